/* The C decoders and kernels under AddressSanitizer and UndefinedBehaviorSanitizer
 * (issue #14): random and hand-corrupted inputs, every call with buffers of exactly the
 * sizes its dims describe (as modmotes.c's checks guarantee), so that a read or write
 * outside them, a signed overflow or an over-wide shift stops the run.
 *
 *   make fuzz          # (top level) builds build/kernels-fuzz with gcc, runs 1,000,000 calls
 *   build/kernels-fuzz [calls] [seed]
 *
 * What it calls: mk_huff_table_build on random and on valid-then-damaged code-length
 * tables, mk_huff_decode and mk_zrun_decode on random bitstreams; mk_fully_connected_s8
 * (also interleaved, with a hand-made requantization table of random words),
 * mk_convolve_s8, mk_depthwise_conv_s8, mk_avgpool_s8, mk_maxpool_s8,
 * mk_elementwise_s8, mk_softmax_s8, mk_logistic_s8, mk_tanh_s8 and mk_mean_s8
 * with random dims (zero and huge ones too), params in and out of
 * their ranges and random multipliers and shifts. A kernel may refuse (a status < 0);
 * it may not misbehave. Prints the calls made and how many were refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "motes_kernels.h"

static uint64_t rng_state = 88172645463325252ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static int32_t pick(int32_t lo, int32_t hi) {     /* lo .. hi inclusive */
    return (int32_t)((int64_t)lo + (int64_t)(rnd() % (uint64_t)((int64_t)hi - lo + 1)));
}

/* a small dim mostly, sometimes 0, sometimes huge or negative */
static int32_t dim(int32_t small) {
    uint32_t r = rnd() % 64;
    if (r == 0) return 0;
    if (r == 1) return 1 << 24;
    if (r == 2) return 0x7FFFFFFF;
    if (r == 3) return -1;
    return pick(1, small);
}

/* a param: mostly in lo..hi, sometimes any int32 */
static int32_t param(int32_t lo, int32_t hi) {
    return rnd() % 16 ? pick(lo, hi) : (int32_t)rnd();
}

static void *buf(int32_t n) {       /* exactly n bytes (1 if n is 0, so never NULL) */
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1u);
    for (int32_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
    return p;
}

static int32_t *words(int32_t n, int kind) {    /* kind 0: any, 1: multipliers, 2: biases */
    int32_t *p = malloc(n > 0 ? 4u * (size_t)n : 4u);
    for (int32_t i = 0; i < n; i++) {
        int32_t v = (int32_t)rnd();
        p[i] = kind == 1 ? (rnd() % 8 ? (int32_t)(0x40000000u | (rnd() & 0x3FFFFFFF)) : v)
             : kind == 2 ? (rnd() % 8 ? (v >> 12) : v) : v;
    }
    return p;
}

static int8_t *shifts(int32_t n) {
    int8_t *p = malloc(n > 0 ? (size_t)n : 1u);
    for (int32_t i = 0; i < n; i++) p[i] = (int8_t)(rnd() % 8 ? pick(-20, 5) : (int32_t)(int8_t)rnd());
    return p;
}

static long calls, refused;

static void status(mk_status s) {
    calls++;
    refused += s != MK_OK;
}

/* room for n elements, or -1 if the binding would refuse (negative, or too big to try) */
static int32_t room(int32_t n) {
    return n < 0 || n > (1 << 16) ? -1 : n;
}

static void fuzz_huff(void) {
    static mk_huff_table runs, vals;
    uint8_t data[400];
    int32_t n = pick(0, 400), used = 0;
    for (int32_t i = 0; i < n; i++) data[i] = (uint8_t)rnd();
    if (rnd() % 2) {
        /* a valid table (SET 1..8 for a few symbols), then a byte damaged or the size cut */
        int32_t k = pick(1, 8);
        n = 0;
        data[n++] = (uint8_t)k;
        for (int32_t i = 0; i < k; i++) data[n++] = (uint8_t)pick(1, 12);
        for (int32_t i = 0; i < 40; i++) data[n++] = (uint8_t)rnd();
        if (rnd() % 2) data[rnd() % (uint32_t)n] ^= (uint8_t)(1u << (rnd() % 8));
        if (rnd() % 4 == 0) n = pick(0, n);
    }
    mk_status s = mk_huff_table_build(&runs, data, n, (int)(rnd() % 2), &used);
    status(s);
    if (s == MK_OK && used >= 0 && used <= n) {
        uint8_t *src = buf(pick(0, 64));
        int32_t len = pick(0, 64), pos = 0, want = pick(0, 300);
        uint8_t *out = buf(want);
        mk_bits br = {0, 0};
        free(src);
        src = buf(len);
        calls++;
        refused += mk_huff_decode(&runs, &br, src, len, &pos, out, want) < 0;
        if (mk_huff_table_build(&vals, data, n, 1, &used) == MK_OK) {
            mk_zrun_state st = {{0, 0}, 0, 0, want};
            pos = 0;
            calls++;
            refused += mk_zrun_decode(&runs, &vals, &st, src, len, &pos, out, want) < 0;
        }
        free(src);
        free(out);
    }
}

/* the buffers of a layer with weights: input, weights, output, bias, multipliers, shifts */
typedef struct {
    mk_quant q;
    int32_t *m, *bias;
    int8_t *s, *x, *w, *y;
} layer_t;

static void layer(layer_t *L, int32_t oc, int32_t ni, int32_t nf, int32_t no) {
    int32_t c = rnd() % 4 ? (oc > 0 ? oc : 1) : 1;
    L->m = words(c, 1);
    L->s = shifts(c);
    L->q = (mk_quant){L->m, L->s, c};
    L->x = buf(ni);
    L->w = buf(nf);
    L->y = buf(no);
    L->bias = rnd() % 4 ? words(oc > 0 ? oc : 1, 2) : NULL;
}

static void unlayer(layer_t *L) {
    free(L->x); free(L->w); free(L->y); free(L->bias); free(L->m); free(L->s);
}

static void fuzz_fc(void) {
    mk_dims in = {pick(1, 3), 1, 1, dim(40)}, f, out;
    int32_t oc = dim(24);
    f = (mk_dims){rnd() % 4 ? oc : dim(24), 1, 1, rnd() % 8 ? in.c : dim(40)};
    out = (mk_dims){in.n, 1, 1, oc};
    int32_t ni = room(mk_dims_count(&in)), nf = room(mk_dims_count(&f)), no = room(mk_dims_count(&out));
    if (ni < 0 || nf < 0 || no < 0 || oc < 0) {
        calls++;        /* (the binding's fits() refuses these) */
        refused++;
        return;
    }
    int il = rnd() % 2;
    mk_fc_params p = {param(-127, 128), il ? 0 : param(-2, 2), param(-128, 127), -128, 127, 0, il, NULL};
    p.act_min = param(-128, 0);
    p.act_max = param(0, 127);
    int32_t *rq = NULL;
    if (il && rnd() % 2) {
        /* a hand-made requantization table: random words, or the real form with random m, s */
        rq = words(MK_RQ_WORDS * (oc > 0 ? oc : 1), 0);
        for (int32_t o = 0; o < oc && rnd() % 2; o++) {
            int32_t m = (int32_t)(0x40000000u | (rnd() & 0x3FFFFFFF)), s = pick(-13, -1);
            int32_t *t = rq + MK_RQ_WORDS * o;
            t[0] = m & 0x7FF;
            t[1] = (m >> 11) & 0x7FF;
            t[2] = m >> 22;
            t[3] = (int32_t)((1u << (8 - s)) + 256u + ((uint32_t)p.output_offset - (uint32_t)p.act_min) * (1u << (9 - s)));
            t[4] = 9 - s;
        }
        p.prepared = rq;
    }
    layer_t L;
    layer(&L, oc, ni, nf, no);
    status(mk_fully_connected_s8(&p, &L.q, &in, L.x, &f, L.w, L.bias, &out, L.y));
    unlayer(&L);
    free(rq);
}

static void fuzz_conv(int dw) {
    mk_dims in = {pick(1, 2), dim(9), dim(9), dim(6)};
    int32_t dm = dw ? param(1, 3) : 1;
    int64_t icdm = (int64_t)in.c * dm;
    int32_t oc = dw ? (rnd() % 4 && icdm == (int32_t)icdm ? (int32_t)icdm : dim(12)) : dim(12);
    int32_t fd = dw ? oc : (rnd() % 4 ? in.c : dim(6));
    mk_dims f = {dw ? 1 : oc, dim(4), dim(4), fd};
    mk_conv_params p = {param(1, 3), param(1, 3), param(1, 2), param(1, 2), param(0, 3), param(0, 3),
                        param(-127, 128), param(-128, 127), param(-128, 0), param(0, 127), dm, 0,
                        dw ? 0 : (int32_t)(rnd() % 2)};
    mk_dims out = {in.n, dim(9), dim(9), oc};
    int32_t ni = room(mk_dims_count(&in)), nf = room(mk_dims_count(&f)), no = room(mk_dims_count(&out));
    if (ni < 0 || nf < 0 || no < 0 || oc < 0) {
        calls++;
        refused++;
        return;
    }
    layer_t L;
    layer(&L, oc, ni, nf, no);
    if (dw) {
        status(mk_depthwise_conv_s8(&p, &L.q, &in, L.x, &f, L.w, L.bias, &out, L.y));
    } else {
        int32_t ns = mk_convolve_s8_scratch_size(&p, &in, &f);
        ns = ns < 0 || ns > (1 << 16) ? 16 : ns;
        mk_ctx ctx = {buf(ns), ns};
        status(mk_convolve_s8(&ctx, &p, &L.q, &in, L.x, &f, L.w, L.bias, &out, L.y));
        free(ctx.buf);
    }
    unlayer(&L);
}

static void fuzz_pool(void) {
    mk_dims in = {pick(1, 2), dim(10), dim(10), dim(5)};
    mk_dims out = {rnd() % 8 ? in.n : dim(2), dim(10), dim(10), rnd() % 8 ? in.c : dim(5)};
    mk_pool_params p = {param(1, 4), param(1, 4), param(1, 3), param(1, 3), param(0, 3), param(0, 3),
                        param(-128, 0), param(0, 127)};
    int32_t ni = room(mk_dims_count(&in)), no = room(mk_dims_count(&out));
    if (ni < 0 || no < 0) {
        calls++;
        refused++;
        return;
    }
    int8_t *x = buf(ni), *y = buf(no);
    status(rnd() % 2 ? mk_avgpool_s8(&p, &in, x, &out, y) : mk_maxpool_s8(&p, &in, x, &out, y));
    free(x); free(y);
}

static void fuzz_elem(void) {
    mk_shape a, b, o;
    a.rank = pick(0, MK_MAX_RANK);
    b.rank = pick(0, MK_MAX_RANK);
    o.rank = a.rank > b.rank ? a.rank : b.rank;
    for (int k = 0; k < MK_MAX_RANK; k++) {
        a.d[k] = rnd() % 3 ? pick(1, 3) : dim(3);
        b.d[k] = rnd() % 3 ? (k < a.rank ? a.d[k] : 1) : 1;
        o.d[k] = 0;
    }
    for (int k = 0; k < o.rank; k++) {
        int32_t ka = k - (o.rank - a.rank), kb = k - (o.rank - b.rank);
        int32_t da = ka >= 0 ? a.d[ka] : 1, db = kb >= 0 ? b.d[kb] : 1;
        o.d[k] = rnd() % 16 ? (da > db ? da : db) : dim(3);
    }
    if (rnd() % 16 == 0) a.rank = (int32_t)rnd();
    int32_t na = room(mk_shape_count(&a)), nb = room(mk_shape_count(&b)), no = room(mk_shape_count(&o));
    if (na < 0 || nb < 0 || no < 0) {
        calls++;
        refused++;
        return;
    }
    mk_elem_params p = {param(-127, 128), param(-127, 128), param(-128, 127), param(0, 20),
                        param(0, 0x7FFFFFFF), param(-31, 0), param(0, 0x7FFFFFFF), param(-31, 0),
                        param(0, 0x7FFFFFFF), param(-31, 0), param(-128, 0), param(0, 127)};
    int8_t *x = buf(na), *z = buf(nb), *y = buf(no);
    status(mk_elementwise_s8((mk_elem_op)(rnd() % 4), &p, &a, x, &b, z, &o, y));
    free(x); free(z); free(y);
}

/* SOFTMAX (rows of the last dim), LOGISTIC / TANH (every value), MEAN (over a mask of
 * dims; the output holds the kept dims) on a random shape, as modmotes.c's unary
 * sizes them */
static void fuzz_unary(void) {
    mk_shape s, kept;
    s.rank = pick(0, MK_MAX_RANK);
    for (int k = 0; k < MK_MAX_RANK; k++) s.d[k] = rnd() % 4 ? pick(1, 4) : dim(6);
    int32_t n = room(mk_shape_count(&s));
    if (n < 0) {
        calls++;
        refused++;
        return;
    }
    int32_t axes = rnd() % 16 ? pick(0, (1 << s.rank) - 1) : (int32_t)rnd();
    kept.rank = 0;
    for (int k = 0; k < s.rank; k++) {
        if (!((axes >> k) & 1)) kept.d[kept.rank++] = s.d[k];
    }
    int32_t op = (int32_t)(rnd() % 4), no = op == 3 ? room(mk_shape_count(&kept)) : n;
    if (no < 0) {
        calls++;
        refused++;
        return;
    }
    int8_t *x = buf(n), *y = buf(no);
    if (op == 0) {
        int32_t depth = s.rank ? s.d[s.rank - 1] : 1;
        mk_softmax_params p = {param(0, 0x7FFFFFFF), param(0, 31), param(-300, 0)};
        status(depth ? mk_softmax_s8(&p, n / depth, depth, x, y) : MK_OK);
    } else if (op < 3) {
        mk_act_params p = {param(-128, 127), param(-128, 127), param(0, 0x7FFFFFFF), param(0, 31),
                           param(0, 0x7FFFFFFF), param(-31, 31), param(0, 0x7FFFFFFF), -128, 127};
        status((op == 1 ? mk_logistic_s8 : mk_tanh_s8)(&p, n, x, y));
    } else {
        mk_mean_params p = {param(0, 0x7FFFFFFF), param(-31, 30), (int32_t)rnd(), param(-128, 127)};
        status(mk_mean_s8(&p, &s, axes, x, y));
    }
    free(x); free(y);
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    rng_state += argc > 2 ? (uint64_t)atol(argv[2]) * 0x9E3779B97F4A7C15ull : 0;
    while (calls < n) {
        switch (rnd() % 8) {
            case 0: fuzz_huff(); break;
            case 1: fuzz_fc(); break;
            case 2: fuzz_conv(0); break;
            case 3: fuzz_conv(1); break;
            case 4: fuzz_pool(); break;
            case 5: fuzz_elem(); break;
            case 6: fuzz_unary(); break;
            default: {
                mk_dims d = {dim(1 << 12), dim(1 << 12), dim(1 << 12), dim(1 << 12)};
                mk_shape s = {pick(-1, MK_MAX_RANK + 1), {dim(1 << 12), dim(1 << 12), dim(9), dim(9), 0, 1}};
                calls++;
                refused += (mk_dims_count(&d) < 0) + (mk_shape_count(&s) < 0) > 0;
                calls++;
                refused += mk_requantize((int32_t)rnd(), (int32_t)(0x40000000u | (rnd() & 0x3FFFFFFF)),
                                         pick(-31, 30)) == 0x7FFFFFFF;
            }
        }
    }
    printf("%ld calls, %ld refused (status < 0), no sanitizer report\n", calls, refused);
    return 0;
}
