/*
 * The matrix inner loops of FULLY_CONNECTED and CONV_2D: rows of weights
 * against an input vector, then requantized (rq_rows); the interleaved
 * (offset binary, 8-row group) layout of mk_fc_params.prepared.
 *
 * Part of the single compilation unit kernels.c (not compiled on its own).
 */

/* y[j] = requantized acc[j] + k->nsx, j = 0 .. k->end - y - 1 (at least
 * one): rq_fast with rc[j], rq8 for the rows it leaves (channel o + j) */
__attribute__((noinline)) static void rq_rows(const uint32_t *acc, const rqc *rc, int8_t *y, int32_t o, const mk_quant *q,
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
#if !MK_THUMB_ASM
static void copy_words(uint32_t *d, const uint32_t *s, int32_t n) {
    do {
        *d++ = *s++;
    } while (--n);
}
#endif

/* d[0 .. n) = v, n >= 0 */
static void fill_bytes(int8_t *d, int8_t v, int32_t n) {
    for (; n > 0; n--) {
        *d++ = v;
    }
}

/* acc[r] += sum_k x[k] * w[k * R + r], r = 0 .. R-1, k = 0 .. n-1: one
 * interleaved group (offset binary weights, read unsigned: the caller takes
 * 128 * sum(x) off the sums). 1 <= R <= 8. sx: where to put -128 sum(x)
 * (rqk's nsx; signed x, 2 <= R < 8, n >= 2, Thumb-1 only), or NULL. */
__attribute__((noinline)) static void dot8(const int8_t *x, int32_t n, const uint8_t *w, int32_t R, uint32_t *acc,
                                           int uns, uint32_t *sx) {
    (void)sx;
#ifdef THUMB1_DOT8
    if (R == 8 && n >= 4) {
        int32_t n4 = n & ~3;
        d8job j;
        j.init = acc;
        j.rc = 0;
        j.group = 0;
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
     * 64 -> 12, person_detect's 256 -> 2), or the inputs dot8_4 left: two
     * rows a pass with their sums in registers, each input loaded once per
     * pass (the general loop kept the sums in memory: 12 instructions per MAC
     * on the M0, 6 in C, 4.5 in the Thumb-1 dot2_4) */
    int32_t r = n ? 0 : R;      /* (nothing left after dot8_4) */
    /* (uns: x is x + 128, unsigned bytes, il_vectors' flip: its own copy of
     * the loop, so that the signed one takes no mask) */
    const int32_t mask = uns ? 0xFF : -1;
#ifdef THUMB1_DOT8
    if (n >= 2) {
        /* pairs of rows in assembly over an even count of inputs, then the
         * last input (n odd) of those rows; an odd row in the loop below */
        const int32_t n2 = n & ~1;
        d2job j;
        j.stride = R;
        j.mode = sx ? 2 : uns;
        for (; r + 1 < R; r += 2) {
            j.a0 = acc[r];
            j.a1 = acc[r + 1];
            dot2_4(x + n2, -n2, w + r, &j);
            if (sx) {
                *sx = 0u - ((j.sx + (uint32_t)(n & 1 ? x[n2] : 0)) << 7);
                sx = 0;
                j.mode = uns;
            }
            if (n & 1) {
                const int32_t v = x[n2] & mask;
                const uint8_t *q = w + n2 * R + r;
                j.a0 += (uint32_t)(v * q[0]);
                j.a1 += (uint32_t)(v * q[1]);
            }
            acc[r] = j.a0;
            acc[r + 1] = j.a1;
        }
    }
#else
#define DOT8_PAIRS(X) \
    for (; r + 1 < R; r += 2) { \
        const uint8_t *p = w + r; \
        uint32_t a0 = acc[r], a1 = acc[r + 1]; \
        for (int32_t k = 0; k < n; k++, p += R) { \
            const int32_t v = X[k]; \
            a0 += (uint32_t)(v * p[0]); \
            a1 += (uint32_t)(v * p[1]); \
        } \
        acc[r] = a0; \
        acc[r + 1] = a1; \
    }
    if (uns) {
        DOT8_PAIRS(((const uint8_t *)x))
    } else {
        DOT8_PAIRS(x)
    }
#undef DOT8_PAIRS
#endif
    for (; r < R; r++) {
        for (int32_t k = 0; k < n; k++) {
            acc[r] += (uint32_t)((x[k] & mask) * w[k * R + r]);
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

/* s[r] = sum_k w[k * R + r], r = 0 .. R-1, k = 0 .. n-1 (n >= 1): the rows'
 * sums of one interleaved group (offset binary), which CONV_2D's bias fold
 * needs once a layer unless its dot products take x + 128 (conv_s8.c: only
 * the layers whose input offset is not 128, as the stems, sum here) */
__attribute__((noinline)) static void il_sums(const uint8_t *w, int32_t n, int32_t R, uint32_t *s) {
    for (int32_t r = 0; r < R; r++) {
        uint32_t a = 0;
        for (const uint8_t *p = w + r, *e = p + n * R; p != e; p += R) {
            a += *p;
        }
        s[r] = a;
    }
}

/* Output channels o0 .. o0+rows-1 against x[0 .. n) (n >= 1), requantized
 * with rc[r] (r = 0 .. rows-1; in the general case rq8 with q) into y[o].
 * The sums start at init[r] (rows <= CONV_STRIPE, the widest stripe). Weights row-major (w row
 * r at w + r n; interleaved ones go to il_groups), against x[k] + xoff; sx
 * is taken off every sum first. */
MK_FAST static void rows_s8(const int8_t *x, const int8_t *w, int32_t n, int32_t rows, int32_t o0,
                    const int32_t *init, const rqc *rc, const mk_quant *q,
                    const outq *oq, int8_t *y, uint32_t sx, int32_t xoff) {
    uint32_t acc[CONV_STRIPE];
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

/* Interleaved rows against nb vectors x[0 .. n), x + n, ... (n >= 1) into y,
 * y + oc, ...: output channels o0 .. o0 + rows - 1 in groups of 8 (w: their
 * offset binary bytes, n a row), the sums from init[0 .. rows) less 128 *
 * sum(x), requantized with rc[0 .. rows) (rq_fast's form; rq8 with q for the
 * channels it leaves) into y[o0 ..). The batches of an interleaved
 * FULLY_CONNECTED (init its folded bias, rc its table mk_fc_params.prepared),
 * the pixels of an interleaved 1x1 convolution with stride 1 and no padding
 * (input pixel i to output pixel i, a matrix product with no taps to work
 * out), and one pixel or patch of the other convolutions (nb = 1; conv_s8).
 * When n is a multiple of 4 a vector's whole groups are one dot8_4 job, which
 * goes from group to group, requantization too, without leaving the asm:
 * back here only for a row the fast form leaves, then the job goes on from
 * the next group (person_detect's 48x48x8 -> 16 on the M0: 9.0 -> 8.6
 * instructions per MAC, its 128 -> 128 layers 3.77 -> 3.72); the C forms take
 * the rest. */
__attribute__((noinline)) static void il_vectors(const int8_t *x, int32_t nb, int32_t n, const uint8_t *w, int32_t rows,
                                                 int32_t o0, const int32_t *init, const rqc *rc, const mk_quant *q,
                                                 const outq *oq, int8_t *y, int32_t oc, uint8_t *flip, int32_t maxb) {
    d8job j;
    j.k.hr = oq->hi - oq->lo;
    j.k.lo = oq->lo;
    int32_t whole = 0;
    int late = 0;   /* (ARMv6-M: sum(x) from the dot products) */
    (void)flip;     /* (ARMv6-M only) */
    (void)maxb;
#ifdef THUMB1_DOT8
    whole = n & 3 || !n ? 0 : rows & ~7;   /* (rows in whole groups over whole words; dot8_4 needs n >= 4) */
    j.group = flip != 0;
    j.maxb = maxb;
    /* x unsigned: one job for the vectors, from one to the next in the asm
     * too (person_detect's 48x48x8 -> 16 on the M0: 8.46 -> 7.88
     * instructions per MAC, 82 fewer a pixel; the model 0.31 M fewer) */
    const int more = nb > 1 && flip && whole == rows;
    if (more) {
        j.oc = oc;
        j.whole = whole;
        j.init0 = (const uint32_t *)init;
        j.rc0 = rc;
        j.w0 = w;
        j.k80 = 0x80808080u;
        j.mff = 0x00FF00FFu;
    }
    /* a chunk of fewer than 8 rows (a classifier's few outputs) of signed x:
     * dot2_4 sums x as it goes, instead of sum_s8's pass over it
     * (person_detect's 256 -> 2 on the M0: 3,601 -> 3,282 instructions) */
    late = !flip && rows > 1 && rows < 8 && n >= 2;
#endif
    for (; nb > 0; nb--, x += n, y += oc) {
#ifdef THUMB1_DOT8
        const uint32_t sx = late ? 0 : flip ? flip_words(x + n, -n, flip + n) : sum_s8(x, n);
        j.k.nsx = 0u - (sx << 7);
        j.chk = !flip || (sx << 7) + (uint32_t)maxb >= (1u << 19);
#else
        j.k.nsx = 0u - (sum_s8(x, n) << 7);
#endif
        uint8_t *y0 = (uint8_t *)y + o0;
#ifdef THUMB1_DOT8
        if (whole) {
            j.init = (const uint32_t *)init;
            j.rc = rc;
            j.y = j.y0 = y0;
            j.k.end = y0 + 8;
            j.y_last = y0 + whole;
            const int32_t left = more ? nb - 1 : 0;
            j.pix = left;
            const int8_t *xe = (flip ? (const int8_t *)flip : x) + n;
            j.src = x + n;
            const uint8_t *wg = w;
            uint8_t *p;
            while ((p = dot8_4(xe, -n, wg, &j)) != j.y_last) {
                /* (j: the group the fast form stopped in, of the vector at j.y0) */
                const int32_t d = p - j.y;
                rq_rows(j.acc + d, j.rc + d, (int8_t *)p, o0 + (int32_t)(j.y - j.y0) + d, q, oq, &j.k);
                if (j.k.end == j.y_last) {
                    break;   /* (that vector done: the next, if any, from this loop) */
                }
                j.init += 8;
                j.rc += 8;
                j.y += 8;
                j.k.end += 8;
                wg = j.w;
                xe = j.x_end;
            }
            if (left) {
                /* (the vectors the job went on to) */
                const int32_t done = left - j.pix;
                nb -= done;
                x += done * n;
                y += done * oc;
            }
        }
#endif
        const uint8_t *wg = w + whole * n;
        for (int32_t r = whole; r < rows; r += 8) {
            const int32_t R = rows - r < 8 ? rows - r : 8;
            j.k.end = y0 + r + R;
            copy_words(j.acc, (const uint32_t *)init + r, R);
            dot8(flip ? (const int8_t *)flip : x, n, wg, R, j.acc, flip != 0, late ? &j.k.nsx : 0);
            rq_rows(j.acc, rc + r, (int8_t *)y0 + r, o0 + r, q, oq, &j.k);
            wg += R * n;
        }
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
