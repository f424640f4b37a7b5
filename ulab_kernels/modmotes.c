/*
 * motes_native: the MicroPython binding of the motes int8 kernels (kernels.c)
 * and decoders (huffman.c). Built two ways from this one file:
 *   - native modules (.mpy, `make -C ulab_kernels ARCH=...`): the build
 *     defines MICROPY_ENABLE_DYNRUNTIME and mpy_init() registers the
 *     functions. Two of them (motes_kernels.h, MK_CORE / MK_MORE), as a
 *     native module's code takes heap on a board: motes_native (fc, conv,
 *     dwconv, pool, unary for SOFTMAX, flip, the decoders) and
 *     motes_native_more (elem, unary for LOGISTIC, TANH and MEAN), which the
 *     runtime imports only for a model with one of those ops;
 *   - a user C module of a firmware build (micropython.mk / micropython.cmake):
 *     one module, motes_native, with every function; the module table at the
 *     end (under !MICROPY_ENABLE_DYNRUNTIME).
 *
 * Every function checks its arguments before any kernel runs: the argument
 * count, that each buffer has the right element type (int8: bytes, bytearray,
 * array 'b'/'B'; int32: array 'i'), is writable where it is written, and is
 * long enough for the dims and offsets given; otherwise ValueError. The
 * kernels check the dims and params themselves (ValueError too).
 *
 * Layer calls take one array('i') `p` of dims and params, then the buffers.
 * `p` starts with a 15-int head, then the op's params in op-table order
 * (docs/FORMAT.md):
 *   p[0] src offset, p[1:5] input  n, h, w, c
 *   p[5] dst offset, p[6:10] output n, h, w, c
 *   p[10:14] filter n, h, w, c (FULLY_CONNECTED: rows, 1, 1, depth; CONV_2D:
 *            rows of this chunk, kh, kw, in/groups; DEPTHWISE: 1, kh, kw, out;
 *            pools: ignored)
 *   p[14]    first output channel of the chunk (streaming; 0 otherwise)
 *   p[15:]   params: FULLY_CONNECTED 5, CONV_2D 10, DEPTHWISE_CONV_2D 11, pools 8 and then 1 for AVERAGE_POOL_2D, 0 for MAX_POOL_2D;
 *            FULLY_CONNECTED and CONV_2D then one more int, interleaved (0/1):
 *            1 = the weights are the chunk's rows in the interleaved layout
 *            as offset binary (motes_kernels.h; flip() makes them);
 *            FULLY_CONNECTED then needs the folded bias and the table,
 *            CONV_2D's bias is TFLite's (None allowed)
 *
 *   fc(p, src, dst, weights, bias|None, multiplier, shift[, table|None])
 *        p: 15 + 5 + 1 ints; table: an interleaved layer's requantization
 *        prepared at load, array 'i' of MK_RQ_WORDS = 5 ints per output
 *        channel (motes_kernels.h, mk_fc_params.prepared)
 *   conv(p, src, dst, weights, bias|None, multiplier, shift, scratch)   p: 15 + 10 + 1
 *        scratch: a bytearray of at least kh * kw * (in/groups) bytes (the im2col patch)
 *   dwconv(p, src, dst, weights, bias|None, multiplier, shift)
 *   pool(p, src, dst): AVERAGE_POOL_2D or MAX_POOL_2D by p[23]
 *   elem(p, a, b, dst): p = the 12 ADD/SUB/MUL params, op id (9, 20, 10),
 *        a offset, b offset, dst offset, then three shapes (a, b, out), each
 *        as rank then MAX_RANK dims (unused dims ignored): 12 + 4 + 3 * 7 ints
 *   unary(p, src, dst): SOFTMAX, LOGISTIC, TANH, MEAN; p: op id (6, 7, 8,
 *        11), src offset, dst offset, the input's shape (rank, then MAX_RANK
 *        dims), MEAN's axes as a mask (bit k: dim k; else 0), then 9 ints:
 *        the op's params in op-table order (MEAN: without axes[]), zeros
 *        after them: 3 + 7 + 1 + 9 ints. SOFTMAX works on rows of the last dim.
 *   flip(buf, n): buf[0:n] ^= 0x80 in place (int8 <-> offset binary; a
 *        writable int8 buffer, 0 <= n <= len(buf))
 *   API: 4 (motes_kernels.h MK_API_VERSION; 4 added unary)
 *
 * Decoders (docs/CODECS.md), resumable over chunks of a payload:
 *   huff_table(table, data, offset, zigzag) -> bytes used by the code table
 *        (zigzag: 1 for int8 values, codec 1 and the second zerorun table;
 *        0 for the zerorun run table)
 *        table: a bytearray of HUFF_TABLE_SIZE bytes; data[offset:] holds the
 *        table (pass at least 321 bytes, or the rest of the payload)
 *   huff_decode(table, state, data, out, out_offset, n) -> values written
 *        state: array('i', [acc, nbits, pos]) (start: 0, 0, first byte);
 *        bytes are taken from data[pos:], pos advances; fewer than n values
 *        when data ran out (feed the next chunk with pos = 0)
 *   zrun_decode(runs, values, state, data, out, out_offset, n) -> values written
 *        state: array('i', [acc, nbits, pos, zeros, want_value, left]),
 *        left = the tensor's count at the start
 */
#if MICROPY_ENABLE_DYNRUNTIME
#include "py/dynruntime.h"
#else
#include "py/runtime.h"
#include "py/binary.h"
#endif

#include "motes_kernels.h"

#define HEAD 15
#define N_FC (HEAD + 6)
#define N_CONV (HEAD + 11)
#define N_DW (HEAD + 11)
#define N_POOL (HEAD + 9)
#define SHAPE_INTS (1 + MK_MAX_RANK)
#define N_ELEM (12 + 4 + 3 * SHAPE_INTS)
#define N_UNARY (3 + SHAPE_INTS + 1 + 9)

#define T_I8 1
#define T_I32 4

#if MICROPY_ENABLE_DYNRUNTIME
/* Native module entry. It comes first in the file: on ARMv6-M the .mpy's
 * entry jump must reach it within 2 KB of the start of the code. */
static const mp_obj_fun_builtin_var_t mn_unary_obj;
#if MK_CORE
static const mp_obj_fun_builtin_var_t mn_fc_obj;
static const mp_obj_fun_builtin_var_t mn_conv_obj;
static const mp_obj_fun_builtin_var_t mn_dwconv_obj;
static const mp_obj_fun_builtin_var_t mn_pool_obj;
static const mp_obj_fun_builtin_var_t mn_huff_table_obj;
static const mp_obj_fun_builtin_var_t mn_huff_decode_obj;
static const mp_obj_fun_builtin_var_t mn_zrun_decode_obj;
static const mp_obj_fun_builtin_fixed_t mn_flip_obj;
#endif
#if MK_MORE
static const mp_obj_fun_builtin_var_t mn_elem_obj;
#endif

mp_obj_t mpy_init(mp_obj_fun_bc_t *self, size_t n_args, size_t n_kw, mp_obj_t *args) {
    MP_DYNRUNTIME_INIT_ENTRY
#if MK_CORE
    mp_store_global(MP_QSTR_fc, MP_OBJ_FROM_PTR(&mn_fc_obj));
    mp_store_global(MP_QSTR_conv, MP_OBJ_FROM_PTR(&mn_conv_obj));
    mp_store_global(MP_QSTR_dwconv, MP_OBJ_FROM_PTR(&mn_dwconv_obj));
    mp_store_global(MP_QSTR_pool, MP_OBJ_FROM_PTR(&mn_pool_obj));
    mp_store_global(MP_QSTR_flip, MP_OBJ_FROM_PTR(&mn_flip_obj));
    mp_store_global(MP_QSTR_huff_table, MP_OBJ_FROM_PTR(&mn_huff_table_obj));
    mp_store_global(MP_QSTR_huff_decode, MP_OBJ_FROM_PTR(&mn_huff_decode_obj));
    mp_store_global(MP_QSTR_zrun_decode, MP_OBJ_FROM_PTR(&mn_zrun_decode_obj));
    mp_store_global(MP_QSTR_HUFF_TABLE_SIZE, MP_OBJ_NEW_SMALL_INT(sizeof(mk_huff_table)));
#endif
#if MK_MORE
    mp_store_global(MP_QSTR_elem, MP_OBJ_FROM_PTR(&mn_elem_obj));
#endif
    mp_store_global(MP_QSTR_unary, MP_OBJ_FROM_PTR(&mn_unary_obj));
    mp_store_global(MP_QSTR_API, MP_OBJ_NEW_SMALL_INT(MK_API_VERSION));
    MP_DYNRUNTIME_INIT_EXIT
}

#endif

static void fail(mp_rom_error_text_t msg) {
    mp_raise_msg(&mp_type_ValueError, msg);
}

static void check_args(size_t n_args, size_t want) {
    if (n_args != want) {
        fail(MP_ERROR_TEXT("bad args"));
    }
}

/* The buffer of o with elements of kind T_I8 or T_I32, writable if asked;
 * its length in elements goes to *len. */
static void *buffer(mp_obj_t o, int kind, int writable, int32_t *len) {
    mp_rom_error_text_t what = MP_ERROR_TEXT("bad buffer");
    mp_buffer_info_t bi;
    if (!mp_get_buffer(o, &bi, writable ? MP_BUFFER_RW : MP_BUFFER_READ)) {
        fail(what);
    }
    /* (tc | 0x20: 'b' for 'b' and 'B', 'i' for 'i' and 'I', 'l' for 'l' and
     * 'L'; an int is 4 bytes on every port, a long where it is 4: no call to
     * mp_binary_get_size) */
    int tc = bi.typecode, lc = tc | 0x20;
    if (kind == T_I8) {
        if (lc != 'b' && tc != BYTEARRAY_TYPECODE) {
            fail(what);
        }
    } else if ((lc != 'i' && (lc != 'l' || sizeof(long) != 4)) || ((uintptr_t)bi.buf & 3u)) {
        fail(what);
    }
    if (bi.len > 0x7FFFFFFF) {
        fail(what);
    }
    *len = (int32_t)(kind == T_I32 ? bi.len >> 2 : bi.len);
    return bi.buf;
}

static const int32_t *params(mp_obj_t o, int32_t want) {
    int32_t n;
    const int32_t *p = buffer(o, T_I32, 0, &n);
    if (n != want) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    return p;
}

/* offset + count <= len, with offset >= 0 and count >= 0 */
static void fits(int32_t off, int32_t count, int32_t len) {
    if (off < 0 || count < 0 || off > len || count > len - off) {
        fail(MP_ERROR_TEXT("buffer too short"));
    }
}

static void status(mk_status st) {
    if (st == MK_ERR_SCRATCH) {
        fail(MP_ERROR_TEXT("scratch too small"));
    } else if (st == MK_ERR_DATA) {
        fail(MP_ERROR_TEXT("corrupt data"));
    } else if (st == MK_ERR_SHORT) {
        fail(MP_ERROR_TEXT("truncated"));
    } else if (st != MK_OK) {
        fail(MP_ERROR_TEXT("bad dims"));
    }
}

#if MK_CORE
/* an interleaved flag: 0 or 1 */
static int32_t flag(int32_t v) {
    if ((uint32_t)v > 1u) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    return v;
}

/* The common head: src/dst buffers and dims, checked against their lengths
 * (the dims are p's ints in place: n, h, w, c in the struct's order) */
typedef struct {
    const mk_dims *in, *out, *filter;
    const int8_t *src;
    int8_t *dst;
} head_t;

static void head(const int32_t *p, mp_obj_t src, mp_obj_t dst, head_t *h) {
    int32_t ls, ld;
    const int8_t *s = buffer(src, T_I8, 0, &ls);
    int8_t *d = buffer(dst, T_I8, 1, &ld);
    h->in = (const mk_dims *)(p + 1);
    h->out = (const mk_dims *)(p + 6);
    h->filter = (const mk_dims *)(p + 10);
    /* (a bad dims count is -1: fits() refuses it) */
    fits(p[0], mk_dims_count(h->in), ls);
    fits(p[5], mk_dims_count(h->out), ld);
    h->src = s + p[0];
    h->dst = d + p[5];
}

/* weights, bias, multiplier, shift of a conv-like layer with oc output channels */
typedef struct {
    const int8_t *w;
    const int32_t *bias;
    mk_quant q;
} consts_t;

/* a prepared requantization table (motes_kernels.h) for oc channels */
static const int32_t *rq_table(mp_obj_t o, int32_t oc) {
    int32_t lt;
    const int32_t *t = buffer(o, T_I32, 0, &lt);
    fits(0, oc > (1 << 24) ? -1 : MK_RQ_WORDS * oc, lt);
    return t;
}

static void consts(const mp_obj_t *args, const mk_dims *filter, int32_t oc, consts_t *c) {
    int32_t lw, lb, lm, ls;
    c->w = buffer(args[0], T_I8, 0, &lw);
    fits(0, mk_dims_count(filter), lw);
    c->bias = NULL;
    if (args[1] != mp_const_none) {
        c->bias = buffer(args[1], T_I32, 0, &lb);
        fits(0, oc, lb);
    }
    c->q.multiplier = buffer(args[2], T_I32, 0, &lm);
    c->q.shift = buffer(args[3], T_I8, 0, &ls);
    if (lm != 1 && (oc < 1 || lm < oc)) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    c->q.count = lm == 1 ? 1 : oc;
    fits(0, c->q.count, ls);
}

static void conv_params(const int32_t *p, mk_conv_params *cp, int dw) {
    /* p[15:]: the struct's first 10 fields in order, DEPTHWISE's depth
     * multiplier after the pads */
    const int32_t *q = p + HEAD;
    int32_t *f = &cp->stride_h;
    for (int k = 0; k < 10; k++) {
        f[k] = q[k + (dw && k >= 6)];
    }
    cp->depth_multiplier = dw ? q[6] : 1;
    cp->out_ch_start = dw ? 0 : p[14];
    cp->interleaved = dw ? 0 : flag(p[HEAD + 10]);
}

/* fc (kind 0), conv (1), dwconv (2) */
static mp_obj_t layer(size_t n_args, const mp_obj_t *args, int kind) {
    check_args(n_args, kind == 1 || (!kind && n_args == 8) ? 8 : 7);
    const int32_t *p = params(args[0], kind ? N_CONV : N_FC);   /* (N_DW == N_CONV) */
    head_t h;
    consts_t c;
    mk_status st;
    head(p, args[1], args[2], &h);
    consts(args + 3, h.filter, h.out->c, &c);
    if (!kind) {
        mk_fc_params fp = {p[15], p[16], p[17], p[18], p[19], p[14], flag(p[20]),
                           n_args == 8 && args[7] != mp_const_none ? rq_table(args[7], h.out->c) : NULL};
        st = mk_fully_connected_s8(&fp, &c.q, h.in, h.src, h.filter, c.w, c.bias, h.out, h.dst);
    } else {
        mk_conv_params cp;
        conv_params(p, &cp, kind == 2);
        if (kind == 1) {
            int32_t ls;
            mk_ctx ctx;
            ctx.buf = buffer(args[7], T_I8, 1, &ls);
            ctx.size = ls;
            st = mk_convolve_s8(&ctx, &cp, &c.q, h.in, h.src, h.filter, c.w, c.bias, h.out, h.dst);
        } else {
            st = mk_depthwise_conv_s8(&cp, &c.q, h.in, h.src, h.filter, c.w, c.bias, h.out, h.dst);
        }
    }
    status(st);
    return mp_const_none;
}

static mp_obj_t mn_fc(size_t n_args, const mp_obj_t *args) {
    return layer(n_args, args, 0);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_fc_obj, 0, mn_fc);

static mp_obj_t mn_conv(size_t n_args, const mp_obj_t *args) {
    return layer(n_args, args, 1);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_conv_obj, 0, mn_conv);

static mp_obj_t mn_dwconv(size_t n_args, const mp_obj_t *args) {
    return layer(n_args, args, 2);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_dwconv_obj, 0, mn_dwconv);

static mp_obj_t mn_pool(size_t n_args, const mp_obj_t *args) {
    check_args(n_args, 3);
    const int32_t *p = params(args[0], N_POOL);
    head_t h;
    head(p, args[1], args[2], &h);
    /* (p[15:23]: the struct's fields in order, as mn_unary's q) */
    const int32_t *q = p + HEAD;
    const mk_pool_params *pp = (const mk_pool_params *)q;
    status(flag(q[8]) ? mk_avgpool_s8(pp, h.in, h.src, h.out, h.dst)
                      : mk_maxpool_s8(pp, h.in, h.src, h.out, h.dst));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_pool_obj, 0, mn_pool);
#endif /* MK_CORE */

/* shape at p (rank, then MK_MAX_RANK dims) and its element count (-1: a bad
 * rank or dims, which fits() refuses) */
static int32_t shape_at(const int32_t *p, mk_shape *s) {
    s->rank = p[0];
    for (int32_t k = 0; k < MK_MAX_RANK; k++) {
        s->d[k] = k < s->rank ? p[1 + k] : 1;
    }
    return mk_shape_count(s);
}

#if MK_MORE
static mp_obj_t mn_elem(size_t n_args, const mp_obj_t *args) {
    check_args(n_args, 4);
    const int32_t *p = params(args[0], N_ELEM);
    int32_t la, lb, ld;
    const int8_t *a = buffer(args[1], T_I8, 0, &la);
    const int8_t *b = buffer(args[2], T_I8, 0, &lb);
    int8_t *d = buffer(args[3], T_I8, 1, &ld);
    mk_shape s1, s2, so;
    int32_t n1 = shape_at(p + 16, &s1), n2 = shape_at(p + 16 + SHAPE_INTS, &s2);
    int32_t no = shape_at(p + 16 + 2 * SHAPE_INTS, &so);
    fits(p[13], n1, la);
    fits(p[14], n2, lb);
    fits(p[15], no, ld);
    mk_elem_op op = p[12] == 9 ? MK_ADD : p[12] == 20 ? MK_SUB : p[12] == 10 ? MK_MUL : (mk_elem_op)-1;
    if ((int)op < 0) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    /* (p[0:12]: the struct's fields in order) */
    status(mk_elementwise_s8(op, (const mk_elem_params *)p, &s1, a + p[13], &s2, b + p[14], &so, d + p[15]));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_elem_obj, 0, mn_elem);
#endif /* MK_MORE */

/* SOFTMAX (6), LOGISTIC (7), TANH (8), MEAN (11): one input, no weights */
static mp_obj_t mn_unary(size_t n_args, const mp_obj_t *args) {
    check_args(n_args, 3);
    const int32_t *p = params(args[0], N_UNARY);
    int32_t ls, ld;
    const int8_t *s = buffer(args[1], T_I8, 0, &ls);
    int8_t *d = buffer(args[2], T_I8, 1, &ld);
    mk_shape in, kept;
    int32_t n = shape_at(p + 3, &in), axes = p[3 + SHAPE_INTS];
    const int32_t *q = p + 4 + SHAPE_INTS;
    int32_t op = p[0], no = n;
    mk_status st;
    fits(p[1], n, ls);
    if (op == 11 && MK_MORE) {
        /* the output has the kept dims (a bad mask: mk_mean_s8 refuses it) */
        kept.rank = 0;
        for (int32_t k = 0; k < in.rank; k++) {
            if (!((axes >> k) & 1)) {
                kept.d[kept.rank++] = in.d[k];
            }
        }
        no = mk_shape_count(&kept);
    }
    fits(p[2], no, ld);
    s += p[1];
    d += p[2];
    /* q: the op's params in op-table order, as the structs hold them */
    st = MK_ERR_ARG;    /* (an op of the other part) */
#if MK_CORE
    if (op == 6) {
        /* rows of the last dim (no division: the count of the dims before it) */
        int32_t depth = in.rank ? in.d[in.rank - 1] : 1;
        in.rank -= in.rank ? 1 : 0;
        st = depth ? mk_softmax_s8((const mk_softmax_params *)q, mk_shape_count(&in), depth, s, d) : MK_OK;
    }
#endif
#if MK_MORE
    if (op == 7 || op == 8) {
        st = (op == 7 ? mk_logistic_s8 : mk_tanh_s8)((const mk_act_params *)q, n, s, d);
    } else if (op == 11) {
        st = mk_mean_s8((const mk_mean_params *)q, &in, axes, s, d);
    }
#endif
    (void)axes;
    status(st);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_unary_obj, 0, mn_unary);

#if MK_CORE
/* ---- decoders ------------------------------------------------------------ */

static mk_huff_table *table(mp_obj_t o, int writable) {
    mp_buffer_info_t bi;
    if (!mp_get_buffer(o, &bi, writable ? MP_BUFFER_RW : MP_BUFFER_READ) || bi.len < sizeof(mk_huff_table)
        || ((uintptr_t)bi.buf & 3u)) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    return (mk_huff_table *)bi.buf;
}

static int32_t *state(mp_obj_t o, int32_t want) {
    int32_t n;
    int32_t *s = buffer(o, T_I32, 1, &n);
    fits(0, want, n);
    return s;
}

static mp_obj_t mn_flip(mp_obj_t buf, mp_obj_t n_obj) {
    int32_t len;
    int8_t *b = buffer(buf, T_I8, 1, &len);
    mp_int_t n = mp_obj_get_int(n_obj);
    if (n < 0 || n > len) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    mk_flip_s8(b, (int32_t)n);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(mn_flip_obj, mn_flip);

static mp_obj_t mn_huff_table(size_t n_args, const mp_obj_t *args) {
    check_args(n_args, 4);
    mk_huff_table *t = table(args[0], 1);
    int32_t ld, used = 0;
    const uint8_t *data = buffer(args[1], T_I8, 0, &ld);
    int32_t off = mp_obj_get_int(args[2]);
    fits(off, 0, ld);
    status(mk_huff_table_build(t, data + off, ld - off, mp_obj_is_true(args[3]), &used));
    return mp_obj_new_int(used);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_huff_table_obj, 0, mn_huff_table);

/* data, out, out_offset, n at args[0..3]: checked; *n_out = n */
static uint8_t *decode_args(const mp_obj_t *args, const uint8_t **data, int32_t *ld, int32_t *n) {
    int32_t lo;
    *data = buffer(args[0], T_I8, 0, ld);
    uint8_t *out = buffer(args[1], T_I8, 1, &lo);
    int32_t off = mp_obj_get_int(args[2]);
    *n = mp_obj_get_int(args[3]);
    fits(off, *n, lo);
    return out + off;
}

static mp_obj_t mn_huff_decode(size_t n_args, const mp_obj_t *args) {
    check_args(n_args, 6);
    const mk_huff_table *t = table(args[0], 0);
    int32_t *s = state(args[1], 3);
    const uint8_t *data;
    int32_t ld, n;
    uint8_t *out = decode_args(args + 2, &data, &ld, &n);
    /* (the state in place: acc, nbits as mk_bits, then pos) */
    int32_t got = mk_huff_decode(t, (mk_bits *)s, data, ld, s + 2, out, n);
    if (got < 0) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    return mp_obj_new_int(got);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_huff_decode_obj, 0, mn_huff_decode);

static mp_obj_t mn_zrun_decode(size_t n_args, const mp_obj_t *args) {
    check_args(n_args, 7);
    const mk_huff_table *runs = table(args[0], 0);
    const mk_huff_table *vals = table(args[1], 0);
    int32_t *s = state(args[2], 6);
    const uint8_t *data;
    int32_t ld, n;
    uint8_t *out = decode_args(args + 3, &data, &ld, &n);
    mk_zrun_state zs = {{(uint32_t)s[0], s[1]}, s[3], s[4], s[5]};
    int32_t pos = s[2];
    int32_t got = mk_zrun_decode(runs, vals, &zs, data, ld, &pos, out, n);
    if (got == MK_ERR_DATA) {
        fail(MP_ERROR_TEXT("corrupt data"));
    } else if (got < 0) {
        fail(MP_ERROR_TEXT("bad args"));
    }
    s[0] = (int32_t)zs.br.acc;
    s[1] = zs.br.nbits;
    s[2] = pos;
    s[3] = zs.zeros;
    s[4] = zs.want_value;
    s[5] = zs.left;
    return mp_obj_new_int(got);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR(mn_zrun_decode_obj, 0, mn_zrun_decode);
#endif /* MK_CORE */

/* ---- module -------------------------------------------------------------- */

#if !MICROPY_ENABLE_DYNRUNTIME

static const mp_rom_map_elem_t motes_native_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_motes_native) },
    { MP_ROM_QSTR(MP_QSTR_fc), MP_ROM_PTR(&mn_fc_obj) },
    { MP_ROM_QSTR(MP_QSTR_conv), MP_ROM_PTR(&mn_conv_obj) },
    { MP_ROM_QSTR(MP_QSTR_dwconv), MP_ROM_PTR(&mn_dwconv_obj) },
    { MP_ROM_QSTR(MP_QSTR_pool), MP_ROM_PTR(&mn_pool_obj) },
    { MP_ROM_QSTR(MP_QSTR_elem), MP_ROM_PTR(&mn_elem_obj) },
    { MP_ROM_QSTR(MP_QSTR_unary), MP_ROM_PTR(&mn_unary_obj) },
    { MP_ROM_QSTR(MP_QSTR_flip), MP_ROM_PTR(&mn_flip_obj) },
    { MP_ROM_QSTR(MP_QSTR_huff_table), MP_ROM_PTR(&mn_huff_table_obj) },
    { MP_ROM_QSTR(MP_QSTR_huff_decode), MP_ROM_PTR(&mn_huff_decode_obj) },
    { MP_ROM_QSTR(MP_QSTR_zrun_decode), MP_ROM_PTR(&mn_zrun_decode_obj) },
    { MP_ROM_QSTR(MP_QSTR_HUFF_TABLE_SIZE), MP_ROM_INT(sizeof(mk_huff_table)) },
    { MP_ROM_QSTR(MP_QSTR_API), MP_ROM_INT(MK_API_VERSION) },
};
static MP_DEFINE_CONST_DICT(motes_native_globals, motes_native_globals_table);

const mp_obj_module_t motes_native_user_cmodule = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&motes_native_globals,
};

MP_REGISTER_MODULE(MP_QSTR_motes_native, motes_native_user_cmodule);

#endif
