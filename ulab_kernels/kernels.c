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

__attribute__((noinline)) static void rq_prep(rqc *r, const mk_quant *q, int32_t o, const outq *oq) {
    int32_t k = q->count > 1 ? o : 0, m = q->multiplier[k], sft = q->shift[k];
    r->m0 = r->m1 = r->m2 = r->e9 = 0;
    r->c = 1 << 30;
    if (m >= 0 && sft <= -1 && sft >= -13) {
        r->m0 = m & 0x7FF;
        r->m1 = (m >> 11) & 0x7FF;
        r->m2 = m >> 22;
        r->c = (1 << (8 - sft)) + 256 + (oq->ooff - oq->lo) * (1 << (9 - sft));
        r->e9 = 9 - sft;
    }
}

/* the layer's constants of rq_fast: where it stops, -sum to add, act_max -
 * act_min, act_min */
typedef struct { uint8_t *end; uint32_t nsx; int32_t hr, lo; } rqk;

/* one group of 8 rows for dot8_4 (ARMv6-M): its field offsets are in the asm */
typedef struct {
    const uint32_t *init;   /* the 8 sums start from here */
    uint32_t acc[8];        /* and end here (rc not NULL) */
    const rqc *rc;          /* NULL: no requantization, the sums go back to init */
    uint8_t *y;             /* where the 8 outputs go */
    rqk k;                  /* k.end = y + 8 */
} d8job;

/* y[j] = the fast form of (acc[j] + k->nsx) with rc[j], j = 0, 1, ... up to
 * k->end (at least one row) or the first row the fast form cannot take;
 * returns where it stopped. */
#if MK_THUMB_ASM
/* (27 instructions a row) */
__attribute__((naked, noinline)) static uint8_t *rq_fast(const uint32_t *acc, const rqc *rc, uint8_t *y,
                                                        const rqk *k) {
    (void)acc;
    (void)rc;
    (void)y;
    (void)k;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n mov r5, r9\n mov r6, r10\n mov r7, r11\n"
        "push {r4, r5, r6, r7}\n"
        "ldm r3!, {r4, r5, r6, r7}\n"
        "mov r11, r4\n mov r8, r5\n mov r9, r6\n mov r10, r7\n"
        "mk_rq_loop:\n"                                       /* (dot8_4 joins here) */
        "1:\n"
        "ldm r0!, {r3}\n add r3, r8\n"                       /* v */
        "asrs r7, r3, #19\n adds r7, #1\n cmp r7, #1\n bhi 9f\n"
        "ldm r1!, {r4, r5, r6}\n"
        "muls r4, r3\n asrs r4, r4, #11\n"
        "muls r5, r3\n adds r5, r4\n asrs r5, r5, #11\n"
        "muls r6, r3\n adds r5, r6\n"                        /* S */
        "asrs r6, r5, #31\n lsls r6, r6, #9\n adds r5, r6\n"
        "ldm r1!, {r6, r7}\n adds r5, r6\n asrs r5, r7\n"
        "cmp r5, r9\n bhi 3f\n"
        "2:\n add r5, r10\n strb r5, [r2]\n adds r2, #1\n"
        "cmp r2, r11\n bne 1b\n"
        "9:\n movs r0, r2\n"
        "pop {r4, r5, r6, r7}\n"
        "mov r8, r4\n mov r9, r5\n mov r10, r6\n mov r11, r7\n"
        "pop {r4, r5, r6, r7, pc}\n"
        "3:\n movs r6, #0\n cmp r5, r6\n blt 4f\n"          /* u < 0: act_min */
        "cmp r7, r6\n beq 9b\n"                              /* (not a fast channel) */
        "mov r6, r9\n"                                       /* u > hr: act_max */
        "4:\n movs r5, r6\n b 2b\n");
}
#else
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
        S = (int32_t)((uint32_t)S + ((uint32_t)(S >> 31) << 9));   /* S < 0: -2^9 */
        const int32_t t = (int32_t)((uint32_t)S + (uint32_t)rc->c);
        const uint32_t e = (uint32_t)rc->e9 & 255u;
        int32_t u = e > 31 ? t >> 31 : t >> e;
        if ((uint32_t)u > (uint32_t)k->hr) {
            if (!rc->e9) {
                break;
            }
            u = u < 0 ? 0 : k->hr;
        }
        *y++ = (uint8_t)(u + k->lo);
        rc++;
    } while (y != k->end);
    return y;
}
#endif

/* y[j] = requantized acc[j] + k->nsx, j = 0 .. k->end - y - 1 (at least
 * one): rq_fast with rc[j], rq8 for the rows it leaves (channel o + j) */
static void rq_rows(const uint32_t *acc, const rqc *rc, int8_t *y, int32_t o, const mk_quant *q,
                    const outq *oq, const rqk *k) {
    for (uint8_t *p = (uint8_t *)y; (p = rq_fast(acc, rc, p, k)) != k->end;) {
        const int32_t j = p - (uint8_t *)y, c = q->count > 1 ? o + j : 0;
        *p = (uint8_t)rq8((int32_t)(acc[j] + k->nsx), q->multiplier[c], q->shift[c], oq);
        if (++p == k->end) {
            return;
        }
        acc += j + 1;
        rc += j + 1;
        y = (int8_t *)p;
        o += j + 1;
    }
}

/* ---------------------------------------------------------------------------
 * The inner loop of FULLY_CONNECTED and CONV_2D: four rows of weights against
 * one input vector, each input byte loaded once for four MACs:
 *     acc[r] += sum_k (x[k] + xoff) * w_r[k],  k = 0 .. n-1, n >= 1.
 * The pointers point one past the ends of the vectors (the loop index runs
 * from -n up to 0). Rows that are not needed may repeat another row.
 * ------------------------------------------------------------------------- */
/* d[0 .. n) = s[0 .. n), n >= 1 words */
#if MK_THUMB_ASM
/* (four words per LDM / STM pair) */
__attribute__((naked, noinline)) static void copy_words(uint32_t *d, const uint32_t *s, int32_t n) {
    (void)d;
    (void)s;
    (void)n;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, lr}\n"
        "subs r2, #4\n blt 2f\n"
        "1:\n ldm r1!, {r3, r4, r5, r6}\n stm r0!, {r3, r4, r5, r6}\n subs r2, #4\n bge 1b\n"
        "2:\n adds r2, #4\n beq 4f\n"
        "3:\n ldm r1!, {r3}\n stm r0!, {r3}\n subs r2, #1\n bne 3b\n"
        "4:\n pop {r4, r5, r6, pc}\n");
}
#else
static void copy_words(uint32_t *d, const uint32_t *s, int32_t n) {
    do {
        *d++ = *s++;
    } while (--n);
}
#endif

/* d[0 .. n) = s[0 .. n), n >= 0 bytes (im2col of inputs that are not whole words) */
static void copy_bytes(int8_t *dst, const int8_t *src, int32_t n) {
    /* (unsigned: Thumb-1's LDRB has an immediate offset, LDRSB does not) */
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    for (; n >= 4; n -= 4, d += 4, s += 4) {
        d[0] = s[0];
        d[1] = s[1];
        d[2] = s[2];
        d[3] = s[3];
    }
    for (; n > 0; n--) {
        *d++ = *s++;
    }
}

/* d[0 .. n) = v, n >= 0 */
static void fill_bytes(int8_t *d, int8_t v, int32_t n) {
    for (; n > 0; n--) {
        *d++ = v;
    }
}

#if MK_THUMB_ASM
/* ARMv6-M: one interleaved group of 8 rows, n a multiple of 4 (n >= 4):
 * acc[r] = j->init[r] + sum_k x[k] * w[8 k + r] (w unsigned), written back to
 * j->init when j->rc is NULL; else to j->acc, and then requantized into
 * j->y[0 .. 8) by rq_fast's loop (returns where it stopped, as rq_fast). The 8 sums in r6, r7,
 * r8-r12, lr; x[k] from two bases (x_end, x_end + 1) at a negative index
 * stepping by 2, the weights by 5-bit immediate offsets from one pointer:
 * 3 instructions per MAC plus 8 per 4 inputs (3.25 per MAC). */
#define MAC8(o) \
    "ldrb r4, [r2, #" #o "+0]\n muls r4, r5\n adds r6, r4\n" \
    "ldrb r4, [r2, #" #o "+1]\n muls r4, r5\n adds r7, r4\n" \
    "ldrb r4, [r2, #" #o "+2]\n muls r4, r5\n add r8, r4\n" \
    "ldrb r4, [r2, #" #o "+3]\n muls r4, r5\n add r9, r4\n" \
    "ldrb r4, [r2, #" #o "+4]\n muls r4, r5\n add r10, r4\n" \
    "ldrb r4, [r2, #" #o "+5]\n muls r4, r5\n add r11, r4\n" \
    "ldrb r4, [r2, #" #o "+6]\n muls r4, r5\n add r12, r4\n" \
    "ldrb r4, [r2, #" #o "+7]\n muls r4, r5\n add lr, r4\n"
__attribute__((naked, noinline)) static uint8_t *dot8_4(const int8_t *x_end, int32_t neg_n, const uint8_t *w,
                                                       d8job *j) {
    (void)x_end;
    (void)neg_n;
    (void)w;
    (void)j;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n mov r5, r9\n mov r6, r10\n mov r7, r11\n"
        "push {r3, r4, r5, r6, r7}\n"
        "ldr r3, [r3]\n"                                      /* j->init */
        "ldm r3!, {r6, r7}\n"
        "ldm r3!, {r4, r5}\n mov r8, r4\n mov r9, r5\n"
        "ldm r3!, {r4, r5}\n mov r10, r4\n mov r11, r5\n"
        "ldm r3!, {r4, r5}\n mov r12, r4\n mov lr, r5\n"
        "adds r3, r0, #1\n"
        "1:\n"
        "ldrsb r5, [r0, r1]\n" MAC8(0)
        "ldrsb r5, [r3, r1]\n" MAC8(8)
        "adds r1, #2\n"
        "ldrsb r5, [r0, r1]\n" MAC8(16)
        "ldrsb r5, [r3, r1]\n" MAC8(24)
        "adds r2, #32\n"
        "adds r1, #2\n"
        "bne 1b\n"
        "pop {r3}\n"
        "ldr r1, [r3, #36]\n adds r3, #4\n"                   /* j->rc, j->acc */
        "cmp r1, #0\n bne 5f\n"
        "subs r3, #4\n ldr r3, [r3]\n"                        /* (no rc: the sums back to j->init) */
        "5:\n"
        "mov r4, r8\n mov r5, r9\n stm r3!, {r6, r7}\n stm r3!, {r4, r5}\n"
        "mov r4, r10\n mov r5, r11\n mov r6, r12\n mov r7, lr\n stm r3!, {r4, r5, r6, r7}\n"
        "cmp r1, #0\n beq 8f\n"
        /* requantize the 8 sums: rq_fast's loop with rc, y, k from j (its frame is this one) */
        "ldm r3!, {r1, r2, r4, r5, r6, r7}\n"
        "mov r11, r4\n mov r8, r5\n mov r9, r6\n mov r10, r7\n"
        "movs r0, r3\n subs r0, #56\n"                         /* j->acc */
        "b mk_rq_loop\n"
        "8:\n"
        "pop {r4, r5, r6, r7}\n"
        "mov r8, r4\n mov r9, r5\n mov r10, r6\n mov r11, r7\n"
        "pop {r4, r5, r6, r7, pc}\n");
}
#define THUMB1_DOT8 1
#endif

/* acc[r] += sum_k x[k] * w[k * R + r], r = 0 .. R-1, k = 0 .. n-1: one
 * interleaved group (offset binary weights, read unsigned: the caller takes
 * 128 * sum(x) off the sums). 1 <= R <= 8. */
static void dot8(const int8_t *x, int32_t n, const uint8_t *w, int32_t R, uint32_t *acc) {
#ifdef THUMB1_DOT8
    if (R == 8 && n >= 4) {
        int32_t n4 = n & ~3;
        d8job j;
        j.init = acc;
        j.rc = 0;
        dot8_4(x + n4, -n4, w, &j);
        x += n4;
        w += 8 * n4;
        n -= n4;
    }
#else
    if (R == 8) {
        /* eight sums in locals: the PC ports' compilers unroll and vectorize this */
        uint32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
        uint32_t a4 = acc[4], a5 = acc[5], a6 = acc[6], a7 = acc[7];
        for (int32_t k = 0; k < n; k++, w += 8) {
            const int32_t v = x[k];
            a0 += (uint32_t)(v * w[0]);
            a1 += (uint32_t)(v * w[1]);
            a2 += (uint32_t)(v * w[2]);
            a3 += (uint32_t)(v * w[3]);
            a4 += (uint32_t)(v * w[4]);
            a5 += (uint32_t)(v * w[5]);
            a6 += (uint32_t)(v * w[6]);
            a7 += (uint32_t)(v * w[7]);
        }
        acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
        acc[4] = a4, acc[5] = a5, acc[6] = a6, acc[7] = a7;
        return;
    }
#endif
    /* fewer than 8 rows (the last group of a layer: kws's FULLY_CONNECTED
     * 64 -> 12, person_detect's 256 -> 2): two rows a pass with their sums
     * in registers, each input loaded once per pass (the general loop kept
     * the sums in memory: 12 instructions per MAC on the M0, 6 now) */
    int32_t r = n ? 0 : R;      /* (nothing left after dot8_4) */
    for (; r + 1 < R; r += 2) {
        const uint8_t *p = w + r;
        uint32_t a0 = acc[r], a1 = acc[r + 1];
        for (int32_t k = 0; k < n; k++, p += R) {
            const int32_t v = x[k];
            a0 += (uint32_t)(v * p[0]);
            a1 += (uint32_t)(v * p[1]);
        }
        acc[r] = a0;
        acc[r + 1] = a1;
    }
    for (; r < R; r++) {
        for (int32_t k = 0; k < n; k++) {
            acc[r] += (uint32_t)(x[k] * w[k * R + r]);
        }
    }
}

typedef uint32_t __attribute__((may_alias)) u32a;

/* sum(x[0 .. n)) (wrapping): aligned words as four unsigned bytes
 * (x ^ 0x80 = x + 128) in two 16-bit lanes, at most 128 words a run */
MK_FAST static uint32_t sum_s8(const int8_t *x, int32_t n) {
    uint32_t s = 0;
    for (; n > 0 && ((uintptr_t)x & 3u); n--) {
        s += (uint32_t)*x++;
    }
    while (n >= 4) {
        int32_t k = n >> 2;
        k = k > 128 ? 128 : k;
        n -= 4 * k;
        s -= 512u * (uint32_t)k;
        uint32_t a = 0;
        do {
            uint32_t v = *(const u32a *)(const void *)x ^ 0x80808080u;
            x += 4;
            a += v & 0x00FF00FFu;
            a += (v >> 8) & 0x00FF00FFu;
        } while (--k);
        s += (a & 0xFFFFu) + (a >> 16);
    }
    for (; n > 0; n--) {
        s += (uint32_t)*x++;
    }
    return s;
}

/* Output channels o0 .. o0+rows-1 against x[0 .. n) (n >= 1), requantized
 * with rc[r] (r = 0 .. rows-1; in the general case rq8 with q) into y[o].
 * The sums start at init[r] (rows <= RQ_STRIPE). Weights row-major (w row
 * r at w + r n; interleaved ones go to il_groups), against x[k] + xoff; sx
 * is taken off every sum first. */
MK_FAST static void rows_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t rows, int32_t o0,
                    const int32_t *init, const rqc *rc, const mk_quant *q,
                    const outq *oq, int8_t *y, uint32_t sx, int32_t xoff) {
    uint32_t acc[RQ_STRIPE];
    for (int32_t j = 0; j < rows; j++) {
        acc[j] = (uint32_t)init[j] - sx;
    }
    int32_t j = 0;
    for (; j + 1 < rows; j += 2, w += 2 * n) {
        /* two rows a pass: each input loaded once for both (FULLY_CONNECTED 4000 -> 4,
         * too big to interleave, on the M0: 13.1 -> 6.1 instructions per MAC with xoff) */
        uint32_t a0 = acc[j], a1 = acc[j + 1];
        /* (one index from -n up to 0 for all three: Thumb-1's LDRSB takes a register offset) */
        const int8_t *xe = x + n, *we0 = w + n, *we1 = w + 2 * n;
        for (int32_t k = -n; k; k++) {
            const int32_t v = xe[k] + xoff;
            a0 += (uint32_t)(v * we0[k]);
            a1 += (uint32_t)(v * we1[k]);
        }
        acc[j] = a0;
        acc[j + 1] = a1;
    }
    for (; j < rows; j++, w += n) {
        for (int32_t k = 0; k < n; k++) {
            acc[j] += (uint32_t)((x[k] + xoff) * w[k]);
        }
    }
    const rqk k = {(uint8_t *)y + o0 + rows, 0, oq->hi - oq->lo, oq->lo};
    rq_rows(acc, rc, y + o0, o0, q, oq, &k);
}

/* Interleaved rows against one input vector: output channels o0 .. o0 +
 * rows - 1 in groups of 8 (w: their offset binary bytes, n a row), the sums
 * from init[0 .. rows) plus j->k.nsx (-128 sum(x) and whatever the caller
 * adds), requantized with rc[0 .. rows) (rq_fast's form; rq8 with q for the
 * channels it leaves) into y[o0 ..). The caller sets j->k (but k.end). A
 * whole group runs in dot8_4, requantization too, when n is a multiple of 4. */
__attribute__((noinline)) static void il_groups(const int8_t *x, int32_t n, const uint8_t *w, int32_t rows, int32_t o0,
                                                const int32_t *init, const rqc *rc, const mk_quant *q,
                                                const outq *oq, int8_t *y, d8job *j) {
    for (int32_t o = o0, oe = o0 + rows; o < oe; o += 8, init += 8, rc += 8) {
        const int32_t R = oe - o < 8 ? oe - o : 8;
        j->init = (const uint32_t *)init;
        j->rc = rc;
        j->y = (uint8_t *)y + o;
        j->k.end = j->y + R;
        int32_t d = 0;
#ifdef THUMB1_DOT8
        if (R == 8 && !(n & 3)) {
            /* the whole group, requantization too, in asm */
            d = dot8_4(x + n, -n, w, j) - j->y;
        } else
#endif
        {
            copy_words(j->acc, j->init, R);
            dot8(x, n, w, R, j->acc);
        }
        if (d < R) {
            rq_rows(j->acc + d, rc + d, (int8_t *)j->y + d, o + d, q, oq, &j->k);
        }
        w += R * n;
    }
}

/* Interleaved FULLY_CONNECTED (checked by conv_s8): nb batches of x[0 .. n)
 * (n >= 1), output channels o0 .. o0 + rows - 1 in groups of 8 (w: their
 * offset binary bytes), the sums from the folded bias less 128 * sum(x);
 * requantized with tab (mk_fc_params.prepared, indexed by the channel). */
__attribute__((noinline)) static void fc_il(const int8_t *x, int32_t nb, int32_t n, const int8_t *w0, int32_t rows, int32_t o0,
                  const int32_t *bias, const mk_quant *q, const outq *oq, int8_t *y, int32_t oc, const rqc *tab) {
    d8job j;
    j.k.hr = oq->hi - oq->lo;
    j.k.lo = oq->lo;
    for (; nb > 0; nb--, x += n, y += oc) {
        j.k.nsx = 0u - (sum_s8(x, n) << 7);
        il_groups(x, n, (const uint8_t *)w0, rows, o0, bias + o0, tab + o0, q, oq, y, &j);
    }
}

void mk_flip_s8(int8_t *buf, int32_t n) {
    uint8_t *b = (uint8_t *)buf, *e = b + (n > 0 ? n : 0);
    while (b != e) {
        /* a word at a time where aligned */
        if (!((uintptr_t)b & 3u) && e - b >= 4) {
            *(u32a *)(void *)b ^= 0x80808080u;
            b += 4;
        } else {
            *b++ ^= 0x80u;
        }
    }
}

/* a chunk of interleaved rows: whole groups of 8 (or empty); has_consts:
 * the bias and table where they are required */
static int il_ok(int32_t start, int32_t rows, int32_t och, int has_consts) {
    return has_consts && (!rows || (!(start & 7) && (!(rows & 7) || start + rows == och)));
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

/* ---------------------------------------------------------------------------
 * CONV_2D
 * ------------------------------------------------------------------------- */
int32_t mk_convolve_s8_scratch_size(const mk_conv_params *p, const mk_dims *in, const mk_dims *filter) {
    (void)p;
    (void)in;
    return mul_count(mul_count(filter->h, filter->w), filter->c);
}

/* fc: a FULLY_CONNECTED layer as a 1x1 convolution (every tap on the image,
 * so no patch: ctx is not checked), foff its filter offset */
MK_SMALL static mk_status conv_s8(const mk_ctx *ctx, const mk_conv_params *p, const mk_quant *q,
                         const mk_dims *in, const int8_t *input,
                         const mk_dims *filter, const int8_t *weights,
                         const int32_t *bias,
                         const mk_dims *out, int8_t *output, int fc, int32_t foff,
                         const int32_t *prepared) {
    int32_t n_in = mk_dims_count(in), n_f = mk_dims_count(filter), n_out = mk_dims_count(out);
    if (!p || n_in < 0 || n_f < 0 || n_out < 0 || !quant_ok(q, out->c) || !geometry_ok(p)
        || !act_ok(p->act_min, p->act_max) || !offset_ok(p->input_offset) || !offset_ok(p->output_offset)) {
        return MK_ERR_ARG;
    }
    const int32_t nb = in->n, ih = in->h, iw = in->w, ic = in->c;
    const int32_t oh = out->h, ow = out->w, oc = out->c;
    const int32_t fh = filter->h, fw = filter->w, fd = filter->c, rows = filter->n;
    const int32_t start = p->out_ch_start;
    if (out->n != nb || fd < !fc || fh < 1 || fw < 1 || ic < fd || start < 0 || start > oc || rows > oc - start
        || (!fc && (p->input_offset < -127 || p->input_offset > 128))   /* -(an int8 zero point) */
        || (p->interleaved && (fd != ic || !il_ok(start, rows, oc, !fc || (bias && prepared))))) {
        return MK_ERR_ARG;
    }
    /* groups = ic / fd exactly, and oc a multiple of groups */
    int32_t groups = fc || fd == ic ? 1 : (int32_t)udiv32((uint32_t)ic, (uint32_t)fd);
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
    if (!fc && (!ctx || !ctx->buf || ctx->size < rl
                || ((uintptr_t)ctx->buf & 1u))) {
        return MK_ERR_SCRATCH;
    }
    const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dw = p->dilation_w;
    const int32_t ioff = p->input_offset, ooff = p->output_offset, lo = p->act_min, hi = p->act_max;
    const outq oq = {ooff, lo, hi};
    const int il = p->interleaved;
    if (fc && il) {
        fc_il(input, nb, ic, weights, rows, start, bias, q, &oq, output, oc, (const rqc *)(const void *)prepared);
        return MK_OK;
    }
    /* group of the first output channel of the chunk */
    int32_t g0 = 0, g0_end = opg;
    while (start >= g0_end) {
        g0++;
        g0_end += opg;
    }
    /* Output channels in stripes of up to RQ_STRIPE within one group. For
     * each: the sums start at bias + input_offset * sum(w) (so the dot
     * products take the raw input), then every output pixel: im2col of the
     * raw int8 input into the patch (-input_offset off the image: it adds
     * nothing), and rows_s8: row by row (row-major weights), or il_groups:
     * eight output channels per pass (interleaved, dot8_4 with the
     * requantization). */
    int8_t *patch = (int8_t *)ctx->buf;
    const int8_t pad = (int8_t)-ioff;
    const int words = !((fd | ic) & 3) && !(((uintptr_t)input | (uintptr_t)patch) & 3u);
    const int32_t run = words && dw == 1 && fd == ic ? (fw * fd) >> 2 : 0;   /* words of a window line */
    const int32_t brun = dw == 1 && fd == ic ? fw * fd : 0;                   /* or its bytes */
    /* row-major FULLY_CONNECTED of one batch: x + input_offset in the dot
     * products instead of input_offset * sum(w) per row (a pass over the
     * weights as long as the MACs' own: micro_speech's 4000 -> 4, 7.9 -> 5.6
     * instructions per MAC on the M0) */
    const int32_t xoff = fc && !il && nb == 1 ? ioff : 0;
    d8job j;
    j.k.hr = hi - lo;
    j.k.lo = lo;
    const int8_t *sx_of = 0;
    uint32_t sx = 0;
    int32_t sums[RQ_STRIPE];
    rqc rc[RQ_STRIPE];
    const int8_t *w = weights;
    int32_t o = start, g = g0, g_end = g0_end;
    while (o < start + rows) {
        int32_t e = o + RQ_STRIPE < g_end ? o + RQ_STRIPE : g_end;
        e = e < start + rows ? e : start + rows;
        for (int32_t r = 0; r < e - o; r++) {
            rq_prep(&rc[r], q, o + r, &oq);
            /* bias + input_offset * sum(w): row-major row r at w + r rl; interleaved
             * (offset binary u = w + 128): -128 rl input_offset here, the rest below */
            uint32_t a = bias ? (uint32_t)bias[o + r] : 0u;
            uint32_t ws = il ? (uint32_t)rl * 0xFFFFFF80u
                          : xoff || !ioff ? 0u : (uint32_t)rl * (uint32_t)foff + sum_s8(w + r * rl, rl);
            sums[r] = (int32_t)(a + (uint32_t)ioff * ws);
        }
        if (il) {
            /* input_offset * sum(u) by dot8 against a patch of -input_offset */
            for (int32_t c = 0; c < rl; c++) {
                patch[c] = pad;
            }
            for (int32_t r8 = 0; r8 < e - o; r8 += 8) {
                uint32_t t[8];
                const int32_t R = e - o - r8 < 8 ? e - o - r8 : 8;
                for (int32_t j = 0; j < 8; j++) {
                    t[j] = 0;
                }
                dot8(patch, rl, (const uint8_t *)w + r8 * rl, R, t);
                for (int32_t j = 0; j < R; j++) {
                    sums[r8 + j] = (int32_t)((uint32_t)sums[r8 + j] - t[j]);
                }
            }
        }

        int8_t *y = output;
        for (int32_t b = 0; b < nb; b++) {
            const int8_t *xg = input + b * ih * iw * ic + g * fd;
            for (int32_t oy = 0; oy < oh; oy++) {
                int32_t y0 = oy * sh - p->pad_h, ky0, ky1;
                tap_range(y0, dh, fh, ih, &ky0, &ky1);
                for (int32_t ox = 0; ox < ow; ox++, y += oc) {
                    int32_t x0 = ox * sw - p->pad_w, kx0, kx1;
                    tap_range(x0, dw, fw, iw, &kx0, &kx1);
                    if (fh == 1 && fw == 1 && ky0 < ky1 && kx0 < kx1) {
                        /* 1x1 on the image: the input pixel is the patch */
                        const int8_t *xp = xg + (y0 * iw + x0) * ic;
                        if ((il || foff) && xp != sx_of) {
                            /* (one pixel, FULLY_CONNECTED's one batch: once) */
                            sx = (sum_s8(xp, rl) + (uint32_t)rl * (uint32_t)xoff) * (il ? 128u : (uint32_t)-foff);
                            sx_of = xp;
                        }
                        if (il) {
                            j.k.nsx = 0u - sx;
                            il_groups(xp, rl, (const uint8_t *)w, e - o, o, sums, rc, q, &oq, y, &j);
                        } else {
                            rows_s8(xp, w, rl, e - o, o, sums, rc, q, &oq, y, sx, xoff);
                        }
                        continue;
                    }
                    int8_t *pp = patch;
                    const int32_t full = kx0 == 0 && kx1 == fw ? run : 0;
                    /* (the part of a window line on the image, in bytes; the
                     * line's offset in the input, a line of taps apart) */
                    const int32_t ba = kx0 * fd, bb = kx1 * fd, lstep = dh * iw * ic;
                    int32_t xo = (y0 * iw + x0) * ic;
                    for (int32_t ky = 0; ky < fh; ky++, xo += lstep) {
                        int32_t row_in = ky >= ky0 && ky < ky1;
                        const int8_t *xp = xg + xo;
                        if (full && row_in) {
                            /* the whole window line: one run of the input */
                            copy_words((uint32_t *)(void *)pp, (const uint32_t *)(const void *)xp, full);
                            pp += 4 * full;
                            continue;
                        }
                        if (brun && row_in) {
                            /* (the same run, not whole words: shallow inputs; at
                             * the edges the part on the image between pads) */
                            fill_bytes(pp, pad, ba);
                            copy_bytes(pp + ba, xp + ba, bb - ba);
                            fill_bytes(pp + bb, pad, brun - bb);
                            pp += brun;
                            continue;
                        }
                        for (int32_t kx = 0; kx < fw; kx++, pp += fd, xp += dw * ic) {
                            if (row_in && kx >= kx0 && kx < kx1) {
                                if (words) {
                                    copy_words((uint32_t *)(void *)pp, (const uint32_t *)(const void *)xp, fd >> 2);
                                } else {
                                    for (int32_t c = 0; c < fd; c++) {
                                        pp[c] = xp[c];
                                    }
                                }
                            } else {
                                for (int32_t c = 0; c < fd; c++) {
                                    pp[c] = pad;
                                }
                            }
                        }
                    }
                    if (il) {
                        j.k.nsx = 0u - (sum_s8(patch, rl) << 7);
                        il_groups(patch, rl, (const uint8_t *)w, e - o, o, sums, rc, q, &oq, y, &j);
                    } else {
                        rows_s8(patch, w, rl, e - o, o, sums, rc, q, &oq, y, 0, 0);
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

mk_status mk_convolve_s8(const mk_ctx *ctx, const mk_conv_params *p, const mk_quant *q,
                         const mk_dims *in, const int8_t *input,
                         const mk_dims *filter, const int8_t *weights,
                         const int32_t *bias,
                         const mk_dims *out, int8_t *output) {
    return conv_s8(ctx, p, q, in, input, filter, weights, bias, out, output, 0, 0, 0);
}

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

/* ---------------------------------------------------------------------------
 * DEPTHWISE_CONV_2D
 * ------------------------------------------------------------------------- */
/* DEPTHWISE_CONV_2D 3x3 (dilation 1, any stride): a channel at a time, in
 * strips of output lines. A strip's window area (the rows and columns its
 * windows touch, pads included: at most DW_PLANE bytes, the plane) is
 * gathered once per input channel as x + 128 (128 - input_offset on the
 * pads, which then add nothing), for all its multipliers, and every output
 * is its 9 taps from there (plane_rows): no per-line gather, no edge logic.
 * The small layers at the end of MobileNets (6x6 and 3x3 outputs) went from
 * 10.8 and 22-25 instructions per MAC on the M0 (line by line, each line a
 * gather and a call) to 9.4 and 13-15; a multiplier on one input channel
 * (person_detect's layer 0) gathers once for all of them. */
#define DW_PLANE 512

/* One channel's constants and where plane_rows is (the asm reads the
 * fields by their offsets): the requantization (dw fast form: every sum
 * within +-2^19, 1 <= e <= 12), the sum's start bc, the weights, the
 * windows. */
typedef struct {
    int32_t m0, m1, m2, c, e9, step, lo, hi, bc;   /* c = 2^(8+e) + 2^8 + (ooff - lo) * 2^(9+e),
                                                      e9 = 9 + e, hi: act_max - act_min, step: the stride */
    int32_t w[9];
    const uint8_t *g, *g_end;   /* the first line's first window, the end of its windows */
    int8_t *y;
    int32_t oc;      /* outputs' step */
    int32_t pw;      /* the plane's row length */
    int32_t skip;    /* from the end of an output line's windows to the next line's */
    int32_t rstep;   /* from one line's windows to the next */
    const uint8_t *last;   /* the end of the last line's windows */
    int32_t single;  /* the bytes of a line's windows done one output at a time (the asm: stride 1
                        runs the others two outputs a pass) */
} dw_row;

#if MK_THUMB_ASM
/* plane_rows' entry and exit: r4-r11 saved, r7 = the dw_row */
#define DW_ENTER "push {r4, r5, r6, r7, lr}\n" \
    "mov r4, r8\n mov r5, r9\n mov r6, r10\n mov r7, r11\n push {r4, r5, r6, r7}\n" \
    "mov r7, r0\n"
#define DW_LEAVE "pop {r4, r5, r6, r7}\n mov r8, r4\n mov r9, r5\n mov r10, r6\n mov r11, r7\n" \
    "pop {r4, r5, r6, r7, pc}\n"
/* the sum in R (R != r3, r4): rq8's fast form into r4, less act_min, clamped,
 * plus act_min. The rounding: x = (S + 2^8) >> 9 (S = v*m >> 22), then
 * (x + 2^(e-1) - (x < 0)) >> e, in one step with the output offset, less
 * act_min: (S + 2^8 + 2^(8+e) + (ooff - act_min) * 2^(9+e) - (S < 0 ? 2^9 :
 * 0)) >> (9 + e) (for -2^8 <= S < 0 both give 0; within int32 for e <= 12);
 * then one unsigned compare clamps. */
#define DW_RQ(R, L) \
    "ldr r3, [r7, #0]\n muls r3, " R "\n asrs r3, r3, #11\n" \
    "ldr r4, [r7, #4]\n muls r4, " R "\n adds r4, r3\n asrs r4, r4, #11\n" \
    "ldr r3, [r7, #8]\n muls r3, " R "\n adds r4, r3\n" \
    "asrs r3, r4, #31\n lsls r3, r3, #9\n adds r4, r3\n" \
    "ldr r3, [r7, #12]\n adds r4, r3\n ldr r3, [r7, #16]\n asrs r4, r3\n" \
    "cmp r4, lr\n bls " L "f\n asrs r3, r4, #31\n mov r4, lr\n bics r4, r3\n" L ":\n" \
    "add r4, ip\n"
#endif

/* g[i] = x[i * ic] + 128 for i < n (n >= 1) */
#if MK_THUMB_ASM
#define GATHER1(k) "ldrb r4, [r1]\n add r1, r3\n eors r4, r5\n strb r4, [r0, #" #k "]\n"
__attribute__((naked, noinline)) static void gather1(uint8_t *g, const int8_t *x, int32_t n, int32_t ic) {
    (void)g;
    (void)x;
    (void)n;
    (void)ic;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "movs r5, #128\n"
        "lsls r6, r3, #1\n adds r7, r6, r3\n lsls r4, r3, #2\n mov ip, r4\n"
        "lsls r4, r2, #31\n beq 1f\n"
        GATHER1(0)
        "adds r0, #1\n subs r2, #1\n beq 3f\n"
        "1:\n lsls r4, r2, #30\n beq 2f\n"
        GATHER1(0) GATHER1(1)
        "adds r0, #2\n subs r2, #2\n beq 3f\n"
        /* four a pass: x, x + ic, x + 2 ic (r6), x + 3 ic (r7), then x += 4 ic */
        "2:\n"
        "ldrb r4, [r1]\n eors r4, r5\n strb r4, [r0, #0]\n"
        "ldrb r4, [r1, r3]\n eors r4, r5\n strb r4, [r0, #1]\n"
        "ldrb r4, [r1, r6]\n eors r4, r5\n strb r4, [r0, #2]\n"
        "ldrb r4, [r1, r7]\n eors r4, r5\n strb r4, [r0, #3]\n"
        "add r1, ip\n adds r0, #4\n subs r2, #4\n bne 2b\n"
        "3:\n pop {r4, r5, r6, r7, pc}\n");
}
#else
static void gather1(uint8_t *g, const int8_t *x, int32_t n, int32_t ic) {
    for (; n; n--, g++, x += ic) {
        *g = (uint8_t)((uint8_t)*x ^ 0x80u);
    }
}
#endif

/* a strip: its plane (ph x pw; plane row r is input row r - pad_h, which may
 * be off the image on either side) and its outputs (oh x ow) */
typedef struct {
    int32_t ph, pw, pad_h, pad_w, ih, iw, ic, oh, ow, sh, sw, oc;
} dw_area;

/* the plane's rows on the image: r0 .. r1 - 1 */
static void plane_rows_in(const dw_area *A, int32_t *r0, int32_t *r1) {
    *r0 = A->pad_h > 0 ? A->pad_h : 0;
    *r1 = A->ih + A->pad_h < A->ph ? A->ih + A->pad_h : A->ph;
}

/* the channel's image part into the plane (the pads stay as they are) */
static void plane_gather(uint8_t *P, const int8_t *x, const dw_area *A) {
    int32_t r0, r1;
    plane_rows_in(A, &r0, &r1);
    const int32_t e0 = A->pad_w, e1 = A->iw + A->pad_w < A->pw ? A->iw + A->pad_w : A->pw;
    if (e0 >= e1) {
        return;
    }
    for (int32_t r = r0; r < r1; r++) {
        gather1(P + r * A->pw + e0, x + (r - A->pad_h) * A->iw * A->ic, e1 - e0, A->ic);
    }
}

/* The output lines of a channel from the plane: outputs from r->g (the
 * window's top left tap; its rows pw = r->pw apart) to r->g_end, r->step
 * (the stride) apart, into r->y, r->oc apart: the 9 taps from r->bc, then
 * DW_RQ's requantization (r->e9 != 0: the fast form's channels); then
 * the next line (r->skip on, its end r->rstep after) until r->last. */
#if MK_THUMB_ASM
#define PL_TAP(R, k, d) "ldrb r3, [" R ", #" #k "]\n ldr r4, [r7, #(36 + 4 * " #d ")]\n muls r3, r4\n adds r1, r3\n"
/* (two outputs a pass: the tap's weight once for both windows, one byte apart) */
#define PL_TAP2(R, k, d) "ldr r4, [r7, #(36 + 4 * " #d ")]\n" \
    "ldrb r3, [" R ", #" #k "]\n muls r3, r4\n adds r1, r3\n" \
    "ldrb r3, [" R ", #(" #k " + 1)]\n muls r3, r4\n add r9, r3\n"
/* a window's 9 taps: its three rows in r0, r2, r5 */
#define PL_TAPS(T) T("r0", 0, 0) T("r0", 1, 1) T("r0", 2, 2) T("r2", 0, 3) T("r2", 1, 4) T("r2", 2, 5) \
    T("r5", 0, 6) T("r5", 1, 7) T("r5", 2, 8)
/* r0 r2 r5 the window's three rows, r1 the sum, r6 y, r7 the struct, r8 oc,
 * r9 the stride (the second sum in a pair), r10 g_end (the pairs' end),
 * r11 last, ip act_min, lr act_max - act_min. A line of stride 1 runs two
 * outputs a pass (59 instructions per output, 9 MACs) but the last of an odd
 * count; other strides one (64), 9 more per line */
__attribute__((naked, noinline)) static void plane_rows(dw_row *r) {
    (void)r;
    __asm__ volatile(
        ".syntax unified\n"
        DW_ENTER
        "ldr r4, [r7, #84]\n mov r8, r4\n"
        "ldr r4, [r7, #20]\n mov r9, r4\n"
        "ldr r4, [r7, #76]\n mov r10, r4\n"
        "ldr r4, [r7, #24]\n mov ip, r4\n"
        "ldr r4, [r7, #28]\n mov lr, r4\n"
        "ldr r6, [r7, #80]\n"
        "ldr r0, [r7, #72]\n"
        "ldr r4, [r7, #88]\n adds r2, r0, r4\n adds r5, r2, r4\n"
        "ldr r4, [r7, #100]\n mov r11, r4\n"
        /* a line: its pairs up to g_end - single, then the rest one at a time.
         * Every line of a call has pairs or none does (then r9 is still the stride) */
        "6:\n"
        "ldr r4, [r7, #104]\n mov r3, r10\n subs r3, r3, r4\n"
        "cmp r0, r3\n beq 1f\n"
        "mov r10, r3\n"
        "7:\n"
        "ldr r1, [r7, #32]\n mov r9, r1\n"
        PL_TAPS(PL_TAP2)
        DW_RQ("r1", "3")
        "strb r4, [r6]\n add r6, r8\n"
        "mov r1, r9\n"
        DW_RQ("r1", "4")
        "strb r4, [r6]\n add r6, r8\n"
        "adds r0, #2\n adds r2, #2\n adds r5, #2\n"
        "cmp r0, r10\n bne 7b\n"
        "ldr r4, [r7, #104]\n add r10, r4\n"
        "cmp r0, r10\n beq 2f\n"
        "movs r4, #1\n mov r9, r4\n"              /* (the stride) */
        "1:\n"
        "ldr r1, [r7, #32]\n"
        PL_TAPS(PL_TAP)
        DW_RQ("r1", "3")
        "strb r4, [r6]\n add r6, r8\n"
        "add r0, r9\n add r2, r9\n add r5, r9\n"
        "cmp r0, r10\n bne 1b\n"
        "2:\n cmp r10, r11\n beq 5f\n"
        "ldr r4, [r7, #92]\n add r0, r4\n add r2, r4\n add r5, r4\n"
        "ldr r4, [r7, #96]\n add r10, r4\n b 6b\n"
        "5:\n"
        DW_LEAVE);
}
#else
static void plane_rows(dw_row *r) {
    const int32_t pw = r->pw;
    int8_t *y = r->y;
    for (const uint8_t *g = r->g, *ge = r->g_end;; g += r->skip, ge += r->rstep) {
    for (; g != ge; g += r->step, y += r->oc) {
        int32_t a = r->bc;
        for (int32_t d = 0; d < 9; d++) {
            a += r->w[d] * g[(d >= 6 ? 2 * pw - 6 : d >= 3 ? pw - 3 : 0) + d];
        }
        int32_t s1 = a * r->m1 + ((a * r->m0) >> 11);
        int32_t v = (s1 >> 11) + a * r->m2;
        v = (v + (int32_t)((uint32_t)(v >> 31) << 9) + r->c) >> r->e9;
        *y = (int8_t)((v < 0 ? 0 : v > r->hi ? r->hi : v) + r->lo);
    }
    if (ge == r->last) {
        return;
    }
    }
}
#endif

/* a channel whose every sum plane_rows' requantization takes: |bias| + 9 *
 * 128 * 255 < 2^19, 1 <= -shift <= 12 (the others: the general loop) */
static int dw_fast(const mk_quant *q, const int32_t *bias, int32_t o) {
    const int32_t qc = q->count > 1 ? o : 0, m = q->multiplier[qc], sft = q->shift[qc], b = bias ? bias[o] : 0;
    return m >= 0 && sft <= -1 && sft >= -12 && b <= 230528 && b >= -230528;
}

/* (returns whether it left channels outside the fast form to the caller) */
__attribute__((noinline)) static int dw3x3(const int8_t *input, int32_t nb, int32_t dm, int8_t *output,
                                            const dw_area *L, const int8_t *weights, const int32_t *bias,
                                            const mk_quant *q, int32_t ioff, const outq *oq) {
    uint8_t P[DW_PLANE];
    const uint8_t pad = (uint8_t)(128 - ioff);
    const int32_t oc = L->oc, pw = L->pw, ow = L->ow, sh = L->sh;
    /* output lines a strip: as many as fit (pw <= DW_PLANE / 3) */
    const int32_t so = (int32_t)udiv32(udiv32(DW_PLANE, (uint32_t)pw) - 3, (uint32_t)sh) + 1;
    dw_row r;
    r.lo = oq->lo;
    r.hi = oq->hi - oq->lo;
    r.step = L->sw;
    r.oc = oc;
    r.pw = pw;
    r.rstep = sh * pw;
    r.skip = r.rstep - ow * L->sw;
    r.single = L->sw == 1 ? (ow & 1) : ow * L->sw;
    fill_bytes((int8_t *)P, (int8_t)pad, DW_PLANE);
    int left = 0;
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = input + b * L->ih * L->iw * L->ic;
        for (int32_t oy0 = 0; oy0 < L->oh; oy0 += so) {
            dw_area A = *L;
            A.oh = L->oh - oy0 < so ? L->oh - oy0 : so;
            A.ph = (A.oh - 1) * sh + 3;
            A.pad_h = L->pad_h - oy0 * sh;
            /* (rows off the image are pads: the gathers write only those on it) */
            int32_t r0, r1;
            plane_rows_in(&A, &r0, &r1);
            for (int32_t rr = 0; rr < A.ph; rr++) {
                if (rr < r0 || rr >= r1) {
                    fill_bytes((int8_t *)P + rr * pw, (int8_t)pad, pw);
                }
            }
            int8_t *yb = output + (b * L->oh + oy0) * ow * oc;
            for (int32_t o = 0, c = 0, mm = 0; o < oc; o++) {
                if (mm == 0) {
                    plane_gather(P, xb + c, &A);
                }
                if (dw_fast(q, bias, o)) {
                    int32_t ws = 0;
                    for (int32_t d = 0; d < 9; d++) {
                        ws += r.w[d] = weights[d * oc + o];
                    }
                    const int32_t qc = q->count > 1 ? o : 0, m = q->multiplier[qc], sft = q->shift[qc];
                    r.bc = (int32_t)((uint32_t)(bias ? bias[o] : 0) + (uint32_t)(ioff - 128) * (uint32_t)ws);
                    r.m2 = m >> 22;
                    r.m1 = (m >> 11) & 0x7FF;
                    r.m0 = m & 0x7FF;
                    r.c = (1 << (8 - sft)) + 256 + (oq->ooff - oq->lo) * (1 << (9 - sft));
                    r.e9 = 9 - sft;
                    r.g = P;
                    r.g_end = P + ow * A.sw;
                    r.last = r.g_end + (A.oh - 1) * r.rstep;
                    r.y = yb + o;
                    plane_rows(&r);
                } else {
                    left = 1;
                }
                if (++mm == dm) {
                    mm = 0;
                    c++;
                }
            }
        }
    }
    return left;
}

MK_SMALL mk_status mk_depthwise_conv_s8(const mk_conv_params *p, const mk_quant *q,
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
    const outq oq = {ooff, lo, hi};
    const int32_t pw = p->pad_w;
    int slow = 0;
    if (fh == 3 && fw == 3 && dh == 1 && dw == 1 && ioff >= -127 && ioff <= 128 && oh > 0 && ow > 0
        && (ow - 1) * sw + 3 <= DW_PLANE / 3) {
        const dw_area A = {0, (ow - 1) * sw + 3, p->pad_h, pw, ih, iw, ic, oh, ow, sh, sw, oc};
        if (!dw3x3(input, nb, dm, output, &A, weights, bias, q, ioff, &oq)) {
            return MK_OK;
        }
        slow = 1;   /* (the channels dw3x3 left: below) */
    }
    /* Other shapes: one output at a time (the taps on the image only) */
    int8_t *y = output;
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = input + b * ih * iw * ic;
        for (int32_t oy = 0; oy < oh; oy++) {
            int32_t y0 = oy * sh - p->pad_h, ky0, ky1;
            tap_range(y0, dh, fh, ih, &ky0, &ky1);
            for (int32_t ox = 0; ox < ow; ox++) {
                int32_t x0 = ox * sw - pw, kx0, kx1;
                tap_range(x0, dw, fw, iw, &kx0, &kx1);
                for (int32_t o = 0, c = 0, mm = 0; o < oc; o++, y++) {
                    if (slow && dw_fast(q, bias, o)) {
                        goto next;   /* (dw3x3 did it) */
                    }
                    uint32_t acc = bias ? (uint32_t)bias[o] : 0u;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            acc += (uint32_t)((xb[((y0 + ky * dh) * iw + x0 + kx * dw) * ic + c] + ioff)
                                              * weights[(ky * fw + kx) * oc + o]);
                        }
                    }
                    const int32_t qc = pc ? o : 0;
                    *y = rq8((int32_t)acc, q->multiplier[qc], q->shift[qc], &oq);
                next:
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
/* some tap o + k (0 <= k < f) of a window lands in [0, size) */
static int touches(int32_t o, int32_t f, int32_t size) {
    return size > 0 && o < size && o + f > 0;
}

static mk_status pool_check(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                            const mk_dims *out, const int8_t *output, int need_taps) {
    int32_t n_in = mk_dims_count(in), n_out = mk_dims_count(out);
    if (!p || n_in < 0 || n_out < 0 || out->n != in->n || out->c != in->c
        || !all_in(&p->filter_h, 2, 1, MK_MAX_DIM) || !all_in(&p->stride_h, 2, 1, MK_MAX_STEP)
        || !all_in(&p->pad_h, 2, 0, MK_MAX_DIM) || !act_ok(p->act_min, p->act_max)) {
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
        if ((uint32_t)mul_count(p->filter_h, p->filter_w) > (1u << 23)) {
            return MK_ERR_ARG;
        }
        /* every window must touch the image (the first and last ones are the
         * extremes), along h (k = 0) and w (k = 1) */
        for (int k = 0; k < 2; k++) {
            const int32_t f = (&p->filter_h)[k], pad = (&p->pad_h)[k], size = (&in->h)[k];
            if (!touches(-pad, f, size) || !touches(((&out->h)[k] - 1) * (&p->stride_h)[k] - pad, f, size)) {
                return MK_ERR_ARG;
            }
        }
    }
    return MK_OK;
}

MK_SMALL static mk_status pool(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
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
                        int32_t qv = (int32_t)udiv_avg(mag, count);
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
    int32_t d[2][MK_MAX_RANK], s[2][MK_MAX_RANK], i[2][MK_MAX_RANK], c[2] = {0, 0}, outs = 1;
    uint32_t st = 1;
    for (int32_t k = in->rank - 1; k >= 0; k--) {
        int32_t r = (axes >> k) & 1, dk = in->d[k];
        if (r && !dk) {
            return MK_ERR_ARG;      /* a mean over nothing (TFLM's Prepare refuses it) */
        }
        outs = r ? outs : mul_count(outs, dk);
        d[r][c[r]] = dk;
        s[r][c[r]] = (int32_t)st;
        i[r][c[r]++] = 0;
        st *= (uint32_t)dk;
    }
    if (!outs) {
        return MK_OK;
    }
    if (!input || !output) {
        return MK_ERR_ARG;
    }
    const outq oq = {p->output_offset, -128, 127};
    int32_t base = 0;
    do {
        uint32_t t = 0;
        int32_t off = base;
        do {
            t += (uint32_t)(int32_t)input[off];
        } while (next_index(i[1], d[1], s[1], c[1], &off));
        *output++ = rq8((int32_t)(t + (uint32_t)p->sum_offset), p->multiplier, p->shift, &oq);
    } while (next_index(i[0], d[0], s[0], c[0], &base));
    return MK_OK;
}
