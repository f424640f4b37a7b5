/*
 * DEPTHWISE_CONV_2D, with its ARMv6-M 3x3 plane routine.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

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
 * gather and a call) to 9.4 and 13-15, and with four-plane gathers and
 * the channel's set-up in plane_rows to 7.8 (person_detect's 6x6x128) and
 * 12.0 / 10.4 (its 3x3x128 of stride 2, 3x3x256); a multiplier on one
 * input channel (person_detect's layer 0) gathers once for all of them.
 * DW_PLANE 1024 (was 512): the big layers take fewer, taller strips (each
 * strip re-gathers 2 or 1 rows and sets every channel up again):
 * person_detect's layers 0/1/3/5/7 22/13/20/13/10 K instructions less,
 * 80.6 K in all, for 48 bytes of code (dw3x3's arguments in a struct: its
 * 1 KB plane put the stack arguments out of ldr's reach from sp) and 512
 * of C stack (still below mk_convolve_s8's stripe). */
#define DW_PLANE 1024

/* One channel's constants and where plane_rows is (the asm reads the
 * fields by their offsets): the requantization (dw fast form: every sum
 * within +-2^19, 1 <= e <= 12), the sum's start bc, the weights, the
 * windows. The caller sets m0 = the multiplier, e9 = the shift, bc = the
 * bias, wp, g and y, plane_rows the rest of the channel's fields from
 * them (or returns 0 when the channel is not of the fast form: dw_ok). */
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
    const int8_t *wp;   /* the channel's weights, oc apart: plane_rows sets w from them and adds
                           (ioff - 128) * their sum to bc (the bias) */
    int32_t ioff;       /* ioff - 128 */
    int32_t k;          /* 2 (ooff - lo) + 1: c = k * 2^(8+e) + 2^8 */
    int32_t gw;         /* g_end - g */
    int32_t gl;         /* last - g_end */
} dw_row;

/* a channel whose every sum plane_rows' requantization takes: |bias| + 9 *
 * 128 * 255 < 2^19, 1 <= -shift <= 12 (the others: the general loop) */
static int dw_ok(int32_t m, int32_t sft, int32_t b) {
    return m >= 0 && sft <= -1 && sft >= -12 && b <= 230528 && b >= -230528;
}

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
 * then one unsigned compare clamps. The channel's c is in r11. */
#define DW_RQ(R, L) \
    "ldr r3, [r7, #0]\n muls r3, " R "\n asrs r3, r3, #11\n" \
    "ldr r4, [r7, #4]\n muls r4, " R "\n adds r4, r3\n asrs r4, r4, #11\n" \
    "ldr r3, [r7, #8]\n muls r3, " R "\n adds r4, r3\n" \
    "asrs r3, r4, #31\n lsls r3, r3, #9\n adds r4, r3\n" \
    "add r4, r11\n ldr r3, [r7, #16]\n asrs r4, r3\n" \
    "cmp r4, lr\n bls " L "f\n asrs r3, r4, #31\n mov r4, lr\n bics r4, r3\n" L ":\n" \
    "add r4, ip\n"
#endif

/* g[r * gstep + i] = x[r * xstep + i * ic] + 128 for i < n, r < rows (n,
 * rows >= 1): a channel's part of the image into the plane, every row in one
 * call (kws's planes are 5 bytes wide: a call a row cost about 28 instructions a
 * row besides the bytes, this 19). n < 0: four channels at once (x 4-byte
 * aligned, ic a multiple of 4), a word each pixel, g[k * DW_QUAD + r * gstep
 * + i] = x[r * xstep + i * ic + k] + 128 for i < -n, k < 4: 13 instructions
 * a pixel for 4 bytes (the one-channel loop 18) and a fourth of the rows'
 * overhead; the small layers' channels were mostly that (person_detect's
 * 6x6x128: 274 instructions a channel, 36 bytes) */
#define DW_QUAD (DW_PLANE / 4)
typedef char dw_quad_is_256[DW_QUAD == 256 ? 1 : -1];   /* (the asm's plane offsets) */
#if MK_THUMB_ASM
#define GATHER1(k) "ldrb r4, [r1]\n add r1, r3\n eors r4, r5\n strb r4, [r0, #" #k "]\n"
__attribute__((naked, noinline)) static void gather_rows(uint8_t *g, const int8_t *x, int32_t n, int32_t ic,
                                                         int32_t rows, int32_t gstep, int32_t xstep) {
    (void)g;
    (void)x;
    (void)n;
    (void)ic;
    (void)rows;
    (void)gstep;
    (void)xstep;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n mov r5, r9\n mov r6, r10\n mov r7, r11\n push {r4, r5, r6, r7}\n"
        /* r8, r9: the row's starts, r10 the rows left, r11 n; rows, gstep, xstep at sp + 36, 40, 44 */
        "mov r8, r0\n mov r9, r1\n mov r11, r2\n ldr r4, [sp, #36]\n mov r10, r4\n"
        "cmp r2, #0\n blt 5f\n"
        "movs r5, #128\n"
        "lsls r6, r3, #1\n adds r7, r6, r3\n lsls r4, r3, #2\n mov ip, r4\n"
        "b 0f\n"
        /* four channels: r5 0x80808080, r3 r6 r7 the planes' offsets, ip ic */
        "5:\n mov ip, r3\n ldr r5, 9f\n"
        "movs r3, #1\n lsls r3, r3, #8\n lsls r6, r3, #1\n adds r7, r6, r3\n"   /* (DW_QUAD: 256) */
        "0:\n mov r0, r8\n mov r1, r9\n mov r2, r11\n"
        "cmp r2, #0\n blt 4f\n"
        /* (n % 8 bytes one at a time first: person_detect's rows are 8 n) */
        "1:\n lsls r4, r2, #29\n beq 2f\n"
        GATHER1(0)
        "adds r0, #1\n subs r2, #1\n bne 1b\n b 3f\n"
        /* eight a pass: x, x + ic, x + 2 ic (r6), x + 3 ic (r7), then x += 4 ic,
         * four more (3.6 instructions a byte; four a pass: 4) */
        "2:\n"
        "ldrb r4, [r1]\n eors r4, r5\n strb r4, [r0, #0]\n"
        "ldrb r4, [r1, r3]\n eors r4, r5\n strb r4, [r0, #1]\n"
        "ldrb r4, [r1, r6]\n eors r4, r5\n strb r4, [r0, #2]\n"
        "ldrb r4, [r1, r7]\n eors r4, r5\n strb r4, [r0, #3]\n"
        "add r1, ip\n"
        "ldrb r4, [r1]\n eors r4, r5\n strb r4, [r0, #4]\n"
        "ldrb r4, [r1, r3]\n eors r4, r5\n strb r4, [r0, #5]\n"
        "ldrb r4, [r1, r6]\n eors r4, r5\n strb r4, [r0, #6]\n"
        "ldrb r4, [r1, r7]\n eors r4, r5\n strb r4, [r0, #7]\n"
        "add r1, ip\n adds r0, #8\n subs r2, #8\n bne 2b\n"
        "3:\n ldr r4, [sp, #40]\n add r8, r4\n ldr r4, [sp, #44]\n add r9, r4\n"
        "mov r4, r10\n subs r4, #1\n mov r10, r4\n bne 0b\n"
        "pop {r4, r5, r6, r7}\n mov r8, r4\n mov r9, r5\n mov r10, r6\n mov r11, r7\n"
        "pop {r4, r5, r6, r7, pc}\n"
        /* a pixel's four channels, a byte to each plane */
        "4:\n ldr r4, [r1]\n add r1, ip\n eors r4, r5\n strb r4, [r0]\n"
        "lsrs r4, r4, #8\n strb r4, [r0, r3]\n lsrs r4, r4, #8\n strb r4, [r0, r6]\n"
        "lsrs r4, r4, #8\n strb r4, [r0, r7]\n"
        "adds r0, #1\n adds r2, #1\n bne 4b\n b 3b\n"
        ".align 2\n 9: .word 0x80808080\n");
}
#else
static void gather_rows(uint8_t *g, const int8_t *x, int32_t n, int32_t ic, int32_t rows, int32_t gstep,
                        int32_t xstep) {
    const int32_t k1 = n < 0 ? 4 : 1, m = n < 0 ? -n : n;
    for (; rows; rows--, g += gstep, x += xstep) {
        for (int32_t k = 0; k < k1; k++) {
            for (int32_t i = 0; i < m; i++) {
                g[k * DW_QUAD + i] = (uint8_t)((uint8_t)x[i * ic + k] ^ 0x80u);
            }
        }
    }
}
#endif

/* dw3x3's arguments (one pointer: its plane puts stack arguments out of
 * ldr's reach from sp): the layer, its plane's row length pw (a strip's
 * plane row r is input row r - (the strip's) pad_h, which may be off the
 * image on either side) */
typedef struct {
    int32_t pw, pad_h, pad_w, ih, iw, ic, oh, ow, sh, sw, oc;
    int32_t nb, dm, ioff;
    const int8_t *input;
    int8_t *output;
    const int8_t *weights;
    const int32_t *bias;
    const mk_quant *q;
    const outq *oq;
} dw_layer;

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
 * r11 the requantization's c (the end, last, read once a line), ip act_min,
 * lr act_max - act_min. A line of stride 1 runs two outputs a pass (58
 * instructions per output, 9 MACs) but the last of an odd count; other
 * strides one (63). 15 more a line of pairs only (20 when r10 was the
 * line's end: person_detect 26 K less), 18 a line of singles (15), and
 * about 120 a channel (its set-up: dw_ok, the weights, the limbs) */
__attribute__((naked, noinline)) static int plane_rows(dw_row *r) {
    (void)r;
    __asm__ volatile(
        ".syntax unified\n"
        DW_ENTER
        /* the channel: dw_ok (m >= 0, 1 <= e = -shift <= 12, b + 230528 <=
         * 2 * 230528 unsigned) or return 0; m's three limbs, c, e9, g_end, last */
        "ldr r0, [r7, #0]\n cmp r0, #0\n blt 9f\n"
        "ldr r1, [r7, #16]\n negs r1, r1\n subs r2, r1, #1\n cmp r2, #11\n bhi 9f\n"
        "movs r3, #225\n lsls r3, r3, #10\n adds r3, #128\n"     /* (230528) */
        "ldr r2, [r7, #32]\n adds r2, r3\n lsls r3, r3, #1\n cmp r2, r3\n bls 11f\n"
        "9:\n movs r0, #0\n b 10f\n"
        "11:\n"
        "asrs r2, r0, #22\n str r2, [r7, #8]\n"
        "lsls r2, r0, #10\n lsrs r2, r2, #21\n str r2, [r7, #4]\n"
        "lsls r2, r0, #21\n lsrs r2, r2, #21\n str r2, [r7, #0]\n"
        "ldr r3, [r7, #116]\n lsls r3, r1\n adds r3, #1\n lsls r3, r3, #8\n str r3, [r7, #12]\n"
        "adds r1, #9\n str r1, [r7, #16]\n"
        /* r10 the first line's pairs' end (g + gw - single), last the last line's */
        "ldr r0, [r7, #72]\n ldr r1, [r7, #120]\n adds r1, r0\n ldr r3, [r7, #104]\n subs r1, r1, r3\n"
        "mov r10, r1\n ldr r2, [r7, #124]\n adds r1, r2\n str r1, [r7, #100]\n"
        /* the weights: w[d] = wp[d * oc], bc += their sum * (ioff - 128), a
         * row of three a pass (r7 on 12 a pass); 56 instructions, the C
         * loop 118 */
        "ldr r1, [r7, #108]\n ldr r2, [r7, #84]\n movs r0, #0\n movs r5, #0\n movs r6, #3\n"
        "8:\n ldrsb r4, [r1, r5]\n adds r5, r2\n str r4, [r7, #36]\n adds r0, r4\n"
        "ldrsb r4, [r1, r5]\n adds r5, r2\n str r4, [r7, #40]\n adds r0, r4\n"
        "ldrsb r4, [r1, r5]\n adds r5, r2\n str r4, [r7, #44]\n adds r0, r4\n"
        "adds r7, #12\n subs r6, #1\n bne 8b\n subs r7, #36\n"
        "ldr r3, [r7, #112]\n muls r0, r3\n ldr r3, [r7, #32]\n adds r0, r3\n str r0, [r7, #32]\n"
        "ldr r4, [r7, #84]\n mov r8, r4\n"
        "ldr r4, [r7, #20]\n mov r9, r4\n"
        "ldr r4, [r7, #24]\n mov ip, r4\n"
        "ldr r4, [r7, #28]\n mov lr, r4\n"
        "ldr r6, [r7, #80]\n"
        "ldr r0, [r7, #72]\n"
        "ldr r4, [r7, #88]\n adds r2, r0, r4\n adds r5, r2, r4\n"
        "ldr r4, [r7, #12]\n mov r11, r4\n"
        /* a line: its pairs up to r10, then the rest (single) one at a time.
         * Every line of a call has pairs or none does (then r9 is still the stride) */
        "6:\n cmp r0, r10\n beq 1f\n"
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
        "ldr r4, [r7, #104]\n cmp r4, #0\n beq 2f\n"
        "movs r4, #1\n mov r9, r4\n"              /* (the stride) */
        "1:\n ldr r4, [r7, #104]\n add r10, r4\n"   /* (the line's end) */
        "12:\n"
        "ldr r1, [r7, #32]\n"
        PL_TAPS(PL_TAP)
        DW_RQ("r1", "3")
        "strb r4, [r6]\n add r6, r8\n"
        "add r0, r9\n add r2, r9\n add r5, r9\n"
        "cmp r0, r10\n bne 12b\n"
        "ldr r4, [r7, #104]\n mov r3, r10\n subs r3, r3, r4\n mov r10, r3\n"
        "2:\n ldr r4, [r7, #100]\n cmp r10, r4\n beq 5f\n"
        "ldr r4, [r7, #92]\n add r0, r4\n add r2, r4\n add r5, r4\n"
        "ldr r4, [r7, #96]\n add r10, r4\n b 6b\n"
        "5:\n movs r0, #1\n"
        "10:\n"
        DW_LEAVE);
}
#else
static int plane_rows(dw_row *r) {
    const int32_t pw = r->pw, m = r->m0, sft = r->e9;
    if (!dw_ok(m, sft, r->bc)) {
        return 0;
    }
    r->m2 = m >> 22;
    r->m1 = (m >> 11) & 0x7FF;
    r->m0 = m & 0x7FF;
    r->c = (int32_t)((uint32_t)r->k << (8 - sft)) + 256;
    r->e9 = 9 - sft;
    r->g_end = r->g + r->gw;
    r->last = r->g_end + r->gl;
    uint32_t ws = 0;
    for (int32_t d = 0; d < 9; d++) {
        ws += (uint32_t)(r->w[d] = r->wp[d * r->oc]);
    }
    r->bc = (int32_t)((uint32_t)r->bc + (uint32_t)r->ioff * ws);
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
        return 1;
    }
    }
}
#endif

/* (dw_ok of channel o) */
static int dw_fast(const mk_quant *q, const int32_t *bias, int32_t o) {
    const int32_t qc = q->count > 1 ? o : 0;
    return dw_ok(q->multiplier[qc], q->shift[qc], bias ? bias[o] : 0);
}

/* (returns whether it left channels outside the fast form to the caller) */
__attribute__((noinline)) static int dw3x3(const dw_layer *L) {
    uint8_t P[DW_PLANE];
    const int8_t *weights = L->weights;
    const int32_t dm = L->dm, ioff = L->ioff, *bias = L->bias;
    const mk_quant *q = L->q;
    const outq *oq = L->oq;
    const uint8_t pad = (uint8_t)(128 - ioff);
    const int32_t oc = L->oc, pw = L->pw, ow = L->ow, sh = L->sh, ic = L->ic, xstep = L->iw * ic;
    /* output lines a strip: as many as fit (pw <= DW_PLANE / 3) */
    const int32_t so = (int32_t)udiv32(udiv32(DW_PLANE, (uint32_t)pw) - 3, (uint32_t)sh) + 1;
    /* the plane's columns on the image: pad_w .. e1 - 1 */
    const int32_t e1 = L->iw + L->pad_w < pw ? L->iw + L->pad_w : pw;
    dw_row r;
    r.lo = oq->lo;
    r.hi = oq->hi - oq->lo;
    r.step = L->sw;
    r.oc = oc;
    r.pw = pw;
    r.rstep = sh * pw;
    r.skip = r.rstep - ow * L->sw;
    r.single = L->sw == 1 ? (ow & 1) : ow * L->sw;
    r.ioff = ioff - 128;
    r.k = 2 * (oq->ooff - oq->lo) + 1;
    r.gw = ow * L->sw;
    const int32_t pc = q->count > 1;
    /* four planes (gathered four channels at a time) when the whole image
     * fits in a fourth of P: one strip, so the pads of the four stay put
     * (the strips' refills below are plane 0's) */
    const int g4 = dm == 1 && !(ic & 3) && !((uintptr_t)L->input & 3) && ((L->oh - 1) * sh + 3) * pw <= DW_QUAD;
    /* (the planes' pads: the first strip's plane is the largest) */
    for (int32_t k = 0; k <= 3 * DW_QUAD * g4; k += DW_QUAD) {
        fill_bytes((int8_t *)P + k, (int8_t)pad, ((so < L->oh ? so : L->oh) - 1) * sh * pw + 3 * pw);
    }
    int left = 0;
    for (int32_t b = 0; b < L->nb; b++) {
        for (int32_t oy0 = 0; oy0 < L->oh; oy0 += so) {
            const int32_t soh = L->oh - oy0 < so ? L->oh - oy0 : so, ph = (soh - 1) * sh + 3;
            const int32_t pad_h = L->pad_h - oy0 * sh;
            /* the plane's rows on the image: r0 .. r1 - 1 (the others are
             * pads: the gathers write only those on it) */
            const int32_t r0 = pad_h > 0 ? pad_h : 0, r1 = L->ih + pad_h < ph ? L->ih + pad_h : ph;
            const int32_t a = r0 < ph ? r0 : ph, z = r1 > a ? r1 : a;
            fill_bytes((int8_t *)P, (int8_t)pad, a * pw);
            fill_bytes((int8_t *)P + z * pw, (int8_t)pad, (ph - z) * pw);
            /* (the gathers: from x + c, the plane's row r0 column pad_w, the
             * image's row r0 - pad_h column 0; n bytes a row, 4 channels if n < 0) */
            const int32_t xo = (b * L->ih + r0 - pad_h) * xstep;
            const int32_t n = L->pad_w < e1 && r0 < r1 ? (g4 ? L->pad_w - e1 : e1 - L->pad_w) : 0;
            int8_t *yb = L->output + (b * L->oh + oy0) * ow * oc;
            r.gl = (soh - 1) * r.rstep;
            for (int32_t o = 0, c = 0, mm = 0; o < oc; o++) {
                /* (a channel's image part into its plane; g4: four) */
                if (mm == 0 && !(c & 3 & -g4) && n) {
                    gather_rows(P + r0 * pw + L->pad_w, L->input + xo + c, n, ic, r1 - r0, pw, xstep);
                }
                r.m0 = q->multiplier[o & -pc];
                r.e9 = q->shift[o & -pc];
                r.bc = bias ? bias[o] : 0;
                r.wp = weights + o;
                r.g = P + (g4 ? (c & 3) * DW_QUAD : 0);
                r.y = yb + o;
                if (!plane_rows(&r)) {
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
    if (!conv_args_ok(p, q, n_in, n_f, n_out, out->c)) {
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
        const dw_layer J = {(ow - 1) * sw + 3, p->pad_h, pw, ih, iw, ic, oh, ow, sh, sw, oc,
                            nb, dm, ioff, input, output, weights, bias, q, &oq};
        if (!dw3x3(&J)) {
            return MK_OK;
        }
        slow = 1;   /* (the channels dw3x3 left: below) */
    }
    /* Other shapes (5x5, 1xk, dilated): one output at a time over the taps on
     * the image, stepping through input and weights by the taps' strides
     * (gesture1d's 1x5 dilated layer on the M0: 57 -> 30 instructions per MAC) */
    int8_t *y = output;
    const int32_t xrow = dh * iw * ic, xcol = dw * ic, wrow = fw * oc;
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = input + b * ih * iw * ic;
        for (int32_t oy = 0; oy < oh; oy++) {
            int32_t y0 = oy * sh - p->pad_h, ky0, ky1;
            tap_range(y0, dh, fh, ih, &ky0, &ky1);
            for (int32_t ox = 0; ox < ow; ox++) {
                int32_t x0 = ox * sw - pw, kx0, kx1;
                tap_range(x0, dw, fw, iw, &kx0, &kx1);
                /* the first tap on the image, of channel 0 (used only if there is one) */
                const int32_t x00 = ((y0 + ky0 * dh) * iw + x0 + kx0 * dw) * ic, w00 = (ky0 * fw + kx0) * oc;
                for (int32_t o = 0, c = 0, mm = 0; o < oc; o++, y++) {
                    if (slow && dw_fast(q, bias, o)) {
                        goto next;   /* (dw3x3 did it) */
                    }
                    uint32_t acc = bias ? (uint32_t)bias[o] : 0u;
                    for (int32_t ky = ky0, xr = x00 + c, wr = w00 + o; ky < ky1; ky++, xr += xrow, wr += wrow) {
                        for (int32_t kx = kx0, xk = xr, wk = wr; kx < kx1; kx++, xk += xcol, wk += oc) {
                            acc += (uint32_t)((xb[xk] + ioff) * weights[wk]);
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
