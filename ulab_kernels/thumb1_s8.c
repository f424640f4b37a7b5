/*
 * The ARMv6-M (Thumb-1) assembly of the inner loops that FULLY_CONNECTED and
 * CONV_2D share: rq_fast (requantization, requantize.h), copy_words (im2col)
 * and dot8_4 (one interleaved group of 8 rows; it ends in rq_fast's loop,
 * mk_rq_loop). Only when MK_THUMB_ASM (motes_kernels.h): other targets take the
 * C forms in requantize.h and matmul_s8.c. DEPTHWISE_CONV_2D's 3x3 plane
 * routine is with its op (depthwise_conv_s8.c).
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */
#if MK_THUMB_ASM
/* y[j] = the fast form of (acc[j] + k->nsx) with rc[j], j = 0, 1, ... up to
 * k->end (at least one row) or the first row the fast form cannot take;
 * returns where it stopped. */
/* (26 instructions a row; 23 in mk_rq_nc, dot8_4's loop for a pixel whose
 * sums are known to be in range) */
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
        "movs r4, #0\n mov ip, r4\n"                        /* (no dot8_4 job) */
        "ldm r3!, {r4, r5, r6, r7}\n"
        "mov r11, r4\n mov r8, r5\n mov r9, r6\n mov r10, r7\n"
        "mk_rq_loop:\n"                                       /* (dot8_4 joins here, its job in ip) */
        "1:\n"
        "ldm r0!, {r3}\n add r3, r8\n"                       /* v */
        "asrs r7, r3, #19\n adds r6, r7, #1\n cmp r6, #1\n bhi 9f\n"   /* (r7: v < 0 ? -1 : 0) */
        "ldm r1!, {r4, r5, r6}\n"
        "muls r4, r3\n asrs r4, r4, #11\n"
        "muls r5, r3\n adds r5, r4\n asrs r5, r5, #11\n"
        "muls r6, r3\n adds r5, r6\n"                        /* S */
        "lsls r7, r7, #9\n adds r5, r7\n"                    /* v < 0 (so S < 0, or m = 0 and S = 0: the same result): -2^9 */
        "ldm r1!, {r6, r7}\n adds r5, r6\n asrs r5, r7\n"
        "cmp r5, r9\n bls 2f\n"
        "bmi 4f\n"                                           /* u - hr < 0, so u < 0: act_min */
        "cmp r7, #0\n beq 9f\n"                              /* (not a fast channel) */
        "mov r5, r9\n b 2f\n"                                /* u > hr: act_max */
        "4:\n movs r5, #0\n"
        "2:\n add r5, r10\n strb r5, [r2]\n adds r2, #1\n"
        "cmp r2, r11\n bne 1b\n"
        "8:\n mov r3, ip\n cmp r3, #0\n bne 5f\n"
        "9:\n movs r0, r2\n"
        "pop {r4, r5, r6, r7}\n"
        "mov r8, r4\n mov r9, r5\n mov r10, r6\n mov r11, r7\n"
        "pop {r4, r5, r6, r7, pc}\n"
        /* the same for a vector whose every sum is within +-2^19 (j->chk 0:
         * dot8_4's jobs of unsigned x, 128 sum(x + 128) + max |bias| < 2^19):
         * no range check */
        "mk_rq_nc:\n"
        "1:\n"
        "ldm r0!, {r3}\n add r3, r8\n asrs r7, r3, #31\n"
        "ldm r1!, {r4, r5, r6}\n"
        "muls r4, r3\n asrs r4, r4, #11\n"
        "muls r5, r3\n adds r5, r4\n asrs r5, r5, #11\n"
        "muls r6, r3\n adds r5, r6\n"
        "lsls r7, r7, #9\n adds r5, r7\n"
        "ldm r1!, {r6, r7}\n adds r5, r6\n asrs r5, r7\n"
        "cmp r5, r9\n bls 2f\n"
        "bmi 4f\n"
        "cmp r7, #0\n beq 9b\n"
        "mov r5, r9\n b 2f\n"
        "4:\n movs r5, #0\n"
        "2:\n add r5, r10\n strb r5, [r2]\n adds r2, #1\n"
        "cmp r2, r11\n bne 1b\n"
        "b 8b\n"
        /* a dot8_4 job's group done (r1, r2: the next one's rc and y): the
         * next group, until y_last */
        "5:\n ldr r4, [r3, #60]\n cmp r2, r4\n beq 6f\n"
        "str r1, [r3, #36]\n str r2, [r3, #40]\n adds r2, #8\n str r2, [r3, #44]\n"
        "ldr r4, [r3]\n adds r4, #32\n str r4, [r3]\n"      /* init */
        "ldr r0, [r3, #64]\n ldr r1, [r3, #68]\n ldr r2, [r3, #72]\n"
        "ldr r4, [r3, #112]\n mov pc, r4\n"                 /* (j->group) */
        /* the vector's groups done: the next vector's, j->pix of them left
         * (x unsigned: its bytes + 128 copied to x_end - n as they are summed) */
        "6:\n ldr r4, [r3, #76]\n subs r4, #1\n bcc 9b\n str r4, [r3, #76]\n"
        "ldr r2, [r3, #84]\n ldr r4, [r3, #80]\n adds r2, r4\n str r2, [r3, #84]\n"   /* y0 */
        "str r2, [r3, #40]\n movs r4, #8\n adds r4, r2\n str r4, [r3, #44]\n"          /* y, end */
        "ldr r4, [r3, #88]\n adds r4, r2\n str r4, [r3, #60]\n"                        /* y_last */
        "ldr r4, [r3, #92]\n str r4, [r3]\n ldr r4, [r3, #96]\n str r4, [r3, #36]\n" /* init, rc */
        "ldr r0, [r3, #116]\n ldr r1, [r3, #68]\n subs r0, r1\n str r0, [r3, #116]\n" /* src */
        /* nsx = -128 sum(x + 128): flip_words' loop, its constants from j
         * (pushed as its frame, which it pops) */
        "push {r3}\n ldr r2, [r3, #64]\n ldr r5, [r3, #104]\n ldr r7, [r3, #108]\n"
        "push {r4, r5, r6, r7}\n bl mk_flip_k\n pop {r3}\n"
        "lsls r4, r0, #7\n ldr r2, [r3, #120]\n adds r2, r4\n lsrs r2, r2, #19\n str r2, [r3, #124]\n"
        "negs r4, r4\n str r4, [r3, #48]\n"
        "ldr r0, [r3, #64]\n ldr r1, [r3, #68]\n ldr r2, [r3, #100]\n"
        "b mk_d8_group_u\n");
}

/* d[i] = x[i] + 128 (x ^ 0x80) for i from neg_n (-n) up to 0, n a multiple
 * of 4 (4 .. 512), x and d the ends of word-aligned vectors (d may be x);
 * returns the sum of d (10 instructions a word: two 16-bit lanes) */
__attribute__((naked, noinline)) static uint32_t flip_words(const int8_t *x, int32_t neg_n, uint8_t *d) {
    (void)x;
    (void)neg_n;
    (void)d;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, r7}\n"
        "movs r5, #128\n lsls r3, r5, #8\n orrs r5, r3\n lsls r3, r5, #16\n orrs r5, r3\n"  /* 0x80808080 */
        "movs r7, #255\n lsls r3, r7, #16\n orrs r7, r3\n"                                /* 0x00FF00FF */
        "mk_flip_k:\n"                                  /* (dot8_4's vector advance: r5, r7 set) */
        "movs r4, #0\n"
        "1:\n ldr r3, [r0, r1]\n eors r3, r5\n str r3, [r2, r1]\n lsrs r6, r3, #8\n"
        "ands r3, r7\n ands r6, r7\n adds r4, r3\n adds r4, r6\n adds r1, #4\n bne 1b\n"
        "lsrs r0, r4, #16\n uxth r4, r4\n adds r0, r4\n"
        "pop {r4, r5, r6, r7}\n bx lr\n");
}

/* d[0 .. n) = s[0 .. n), n >= 1 words */
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

/* ARMv6-M: one interleaved group of 8 rows, n a multiple of 4 (n >= 4):
 * acc[r] = j->init[r] + sum_k x[k] * w[8 k + r] (w unsigned; x signed, or
 * unsigned when j->group is 1: then also from vector to vector, d8job's pix),
 * written back to
 * j->init when j->rc is NULL; else to j->acc, and then requantized into
 * j->y[0 .. 8) by rq_fast's loop, which then goes on with the next group (its
 * loop's exit 5: init, rc, y, k.end on by 8, the weights from j->w) until
 * j->y_last; returns where it stopped (y_last, or the row the fast form
 * left: j then holds that group). The 8 sums in r6, r7,
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
/* a group's start: its 8 sums from j->init (r3 = j, pushed), r3 = x_end + 1 */
#define D8_INIT \
        "push {r3}\n" \
        "ldr r3, [r3]\n" \
        "ldm r3!, {r6, r7}\n" \
        "ldm r3!, {r4, r5}\n mov r8, r4\n mov r9, r5\n" \
        "ldm r3!, {r4, r5}\n mov r10, r4\n mov r11, r5\n" \
        "ldm r3!, {r4, r5}\n mov r12, r4\n mov lr, r5\n" \
        "adds r3, r0, #1\n"
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
        "push {r4, r5, r6, r7}\n"
        "str r0, [r3, #64]\n str r1, [r3, #68]\n"            /* (for the next groups) */
        /* the group code for x signed (j->group 0) or unsigned (1), its
         * address then kept in j->group */
        "ldr r4, [r3, #112]\n cmp r4, #1\n bhi 2f\n beq 1f\n"
        "adr r4, mk_d8_group\n b 3f\n"
        "1:\n adr r4, mk_d8_group_u\n"
        "3:\n str r4, [r3, #112]\n"
        "2:\n mov pc, r4\n"
        ".balign 4\n"
        "mk_d8_group_u:\n"                                   /* x unsigned (x + 128, LDRB) */
        D8_INIT
        "1:\n"
        "ldrb r5, [r0, r1]\n" MAC8(0)
        "ldrb r5, [r3, r1]\n" MAC8(8)
        "adds r1, #2\n"
        "ldrb r5, [r0, r1]\n" MAC8(16)
        "ldrb r5, [r3, r1]\n" MAC8(24)
        "adds r2, #32\n"
        "adds r1, #2\n"
        "bne 1b\n"
        "mk_d8_after:\n"
        "pop {r3}\n"
        "str r2, [r3, #72]\n"                                 /* the next group's weights */
        "ldr r1, [r3, #36]\n cmp r1, #0\n beq 8f\n"         /* j->rc (none: the sums back to j->init) */
        "adds r0, r3, #4\n"                                   /* j->acc */
        "mov r4, r8\n mov r5, r9\n stm r0!, {r6, r7}\n stm r0!, {r4, r5}\n"
        "mov r4, r10\n mov r5, r11\n mov r6, r12\n mov r7, lr\n stm r0!, {r4, r5, r6, r7}\n"
        /* requantize the 8 sums: rq_fast's loop with rc, y, k from j (its frame is this one) */
        "ldm r0!, {r1, r2, r4, r5, r6, r7}\n"
        "mov r11, r4\n mov r8, r5\n mov r9, r6\n mov r10, r7\n"
        "mov ip, r3\n adds r0, r3, #4\n"                    /* j, j->acc */
        "ldr r4, [r3, #124]\n cmp r4, #0\n beq 1f\n"
        "b mk_rq_loop\n"
        "1:\n b mk_rq_nc\n"
        "8:\n ldr r3, [r3]\n"
        "mov r4, r8\n mov r5, r9\n stm r3!, {r6, r7}\n stm r3!, {r4, r5}\n"
        "mov r4, r10\n mov r5, r11\n mov r6, r12\n mov r7, lr\n stm r3!, {r4, r5, r6, r7}\n"
        "pop {r4, r5, r6, r7}\n"
        "mov r8, r4\n mov r9, r5\n mov r10, r6\n mov r11, r7\n"
        "pop {r4, r5, r6, r7, pc}\n"
        ".balign 4\n"
        "mk_d8_group:\n"                                     /* x signed (LDRSB) */
        D8_INIT
        "1:\n"
        "ldrsb r5, [r0, r1]\n" MAC8(0)
        "ldrsb r5, [r3, r1]\n" MAC8(8)
        "adds r1, #2\n"
        "ldrsb r5, [r0, r1]\n" MAC8(16)
        "ldrsb r5, [r3, r1]\n" MAC8(24)
        "adds r2, #32\n"
        "adds r1, #2\n"
        "bne 1b\n"
        "b mk_d8_after\n");
}
#define THUMB1_DOT8 1

/* ARMv6-M: two rows of an interleaved group of R rows (a last group of fewer
 * than 8: a classifier's few outputs), n even (n >= 2):
 * j->a0 += sum_k x[k] * w[R k], j->a1 += sum_k x[k] * w[R k + 1] (w
 * unsigned; x signed (j->mode 0), unsigned (1), or signed and summed into
 * j->sx (2: for a layer whose only group this is, instead of sum_s8's pass).
 * Each x[k] loaded once for both rows, two inputs a pass from the bases
 * x_end and x_end + 1: 9 instructions an input, 4.5 a MAC (the C loop's
 * 11-12); 10 when summing. */
#define DOT2(LD, SUM) \
        LD " r5, [r0, r1]\n" SUM \
        "ldrb r4, [r2, #0]\n muls r4, r5\n adds r6, r4\n" \
        "ldrb r4, [r2, #1]\n muls r4, r5\n adds r7, r4\n" \
        "add r2, r8\n" \
        LD " r5, [r3, r1]\n" SUM \
        "ldrb r4, [r2, #0]\n muls r4, r5\n adds r6, r4\n" \
        "ldrb r4, [r2, #1]\n muls r4, r5\n adds r7, r4\n" \
        "add r2, r8\n" \
        "adds r1, #2\n"
typedef struct { uint32_t a0, a1; int32_t stride, mode; uint32_t sx; } d2job;
__attribute__((naked, noinline)) static void dot2_4(const int8_t *x_end, int32_t neg_n, const uint8_t *w,
                                                   d2job *j) {
    (void)x_end;
    (void)neg_n;
    (void)w;
    (void)j;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r3, r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n mov r5, r9\n push {r4, r5}\n"
        "ldm r3!, {r4, r5, r6, r7}\n"                         /* a0, a1, stride, mode (j pushed) */
        "mov r8, r6\n adds r3, r0, #1\n"
        "movs r6, #0\n mov r9, r6\n"                        /* (the sum) */
        "cmp r7, #1\n mov r6, r4\n mov r7, r5\n"          /* (mov keeps the flags) */
        "beq 2f\n bhi 4f\n"
        "1:\n" DOT2("ldrsb", "") "bne 1b\n"
        "b 3f\n"
        "2:\n" DOT2("ldrb", "") "bne 2b\n"
        "b 3f\n"
        "4:\n" DOT2("ldrsb", "add r9, r5\n") "bne 4b\n"
        "3:\n"
        "mov r1, r9\n"
        "pop {r4, r5}\n mov r8, r4\n mov r9, r5\n"
        "pop {r3}\n"
        "str r1, [r3, #16]\n"
        "stm r3!, {r6, r7}\n"
        "pop {r4, r5, r6, r7, pc}\n");
}
#undef DOT2

#endif
