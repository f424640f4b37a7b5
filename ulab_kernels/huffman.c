/*
 * Resumable decoders of the .mote entropy codecs (docs/CODECS.md): the
 * canonical length-limited Huffman code of codec 1 and the zero-run tokens of
 * codec 2. Plain C, no allocation, no division.
 *
 * A table is built once from its code-length table (section 3). Decoding then
 * pulls payload bytes as needed from whatever chunk the caller holds; the
 * bits of a code cut by the end of a chunk wait in mk_bits until the next
 * call. Every code (at most 12 bits) is found with one lookup of the next 12
 * bits (section 3.5's table, as symbol and length bytes).
 */
#include "motes_kernels.h"

/* (run once per tensor: smaller without the loop optimisations) */
#if defined(__GNUC__) && !defined(__clang__)
#define MK_SMALL __attribute__((optimize("no-tree-loop-optimize")))
#else
#define MK_SMALL
#endif

/* Pull whole bytes while at least 8 bits of room are left in acc. */
static inline void fill(mk_bits *br, const uint8_t *data, int32_t size, int32_t *pos) {
    while (br->nbits <= 24 && *pos < size) {
        br->acc = (br->acc << 8) | data[(*pos)++];
        br->nbits += 8;
    }
}

/* Read w <= 16 bits during table parsing; -1 when the data ends. */
static int32_t take(mk_bits *br, const uint8_t *data, int32_t size, int32_t *pos, int32_t w) {
    fill(br, data, size, pos);
    if (br->nbits < w) {
        return -1;
    }
    br->nbits -= w;
    return (int32_t)((br->acc >> br->nbits) & ((1u << w) - 1u));
}

MK_SMALL mk_status mk_huff_table_build(mk_huff_table *t, const uint8_t *data, int32_t size,
                              int zigzag, int32_t *used) {
    mk_bits br = {0, 0};
    int32_t pos = 0;
    if (!t || !data || !used) {
        return MK_ERR_DATA;
    }
    if (size < 2) {                     /* even the zero-bit form takes two bytes */
        return MK_ERR_SHORT;
    }
    uint8_t *len = t->len;
    t->magic = 0;
    int32_t m = data[0];
    if (m == 0) {                       /* zero-bit form */
        t->max_len = 0;
        t->single = data[1];
        t->magic = MK_HUFF_MAGIC;
        *used = 2;
        return MK_OK;
    }
    pos = 1;
    for (int32_t i = 0; i < 256; i++) {
        len[i] = 0;
    }
    int32_t n = m + 1, k = 0, prev = 8;
    while (k < n) {
        int32_t tok = 0, r = 1, ell = prev, v;
        while (tok < 6) {
            v = take(&br, data, size, &pos, 1);
            if (v < 0) {
                return MK_ERR_SHORT;
            }
            if (!v) {
                break;
            }
            tok++;
        }
        if (tok == 3) {                 /* REPEAT 11..74 */
            v = take(&br, data, size, &pos, 6);
            r = 11 + v;
        } else if (tok == 4) {          /* ABSENT */
            ell = 0;
            v = 0;
        } else if (tok == 5) {          /* SKIP 3..258 */
            v = take(&br, data, size, &pos, 8);
            r = 3 + v;
            ell = 0;
        } else if (tok == 0) {          /* SAME */
            v = 0;
        } else {                        /* UP, DOWN, SET */
            v = tok == 6 ? take(&br, data, size, &pos, 4) : 0;
            prev = tok == 1 ? prev + 1 : tok == 2 ? prev - 1 : v;
            ell = prev;
            if (v >= 0 && (prev < 1 || prev > 12)) {
                return MK_ERR_DATA;
            }
        }
        /* the data ended inside a token: cut short, as the Python decoder reports it */
        if (v < 0) {
            return MK_ERR_SHORT;
        }
        if (r > n - k) {
            return MK_ERR_DATA;
        }
        for (; r > 0; r--, k++) {
            /* zigzag order: k -> (k >> 1) ^ -(k & 1), as a byte */
            int32_t s = zigzag ? (((k >> 1) ^ -(k & 1)) & 0xFF) : k;
            len[s] = (uint8_t)ell;
        }
    }
    /* padding bits up to the byte boundary must be zero */
    if ((br.nbits & 7) && take(&br, data, size, &pos, br.nbits & 7) != 0) {
        return MK_ERR_DATA;
    }
    /* counting pass, Kraft equality; first code of each length */
    uint16_t count[13], next[13];
    int32_t kraft = 0, big = 0;
    for (int32_t l = 0; l <= 12; l++) {
        count[l] = 0;
    }
    for (int32_t s = 0; s < 256; s++) {
        count[len[s]]++;
    }
    uint32_t code = 0;
    for (int32_t l = 1; l <= 12; l++) {
        next[l] = (uint16_t)code;
        code = (code + count[l]) << 1;
        if (count[l]) {
            kraft += count[l] << (12 - l);
            big = l;
        }
    }
    if (kraft != 4096) {
        return MK_ERR_DATA;
    }
    /* lookup table: a code of length l fills 2^(12-l) entries (canonical
     * order: ascending symbols within a length get ascending codes) */
    for (int32_t s = 0; s < 256; s++) {
        int32_t l = len[s];
        if (l) {
            uint8_t *x = t->sym + ((uint32_t)next[l]++ << (12 - l)), *e = x + (1u << (12 - l));
            do {
                *x++ = (uint8_t)s;
            } while (x != e);
        }
    }
    t->max_len = (uint8_t)big;
    t->single = 0;
    t->magic = MK_HUFF_MAGIC;
    /* the table is byte aligned: bytes fully pulled in, minus whole bytes still unread */
    *used = pos - (br.nbits >> 3);
    return MK_OK;
}

static int table_ok(const mk_huff_table *t) {
    return t && t->magic == MK_HUFF_MAGIC && t->max_len <= 12;
}

/* One symbol from the bits in br (at most 32), or -1 if they end inside a code. */
static int32_t symbol(const mk_huff_table *t, mk_bits *br) {
    int32_t nb = br->nbits;
    if (t->max_len == 0) {
        return t->single;
    }
    /* peek 12 bits (zeros past the available ones: a code that fits is still
     * found, one that does not gives a length above nb) */
    uint32_t peek = nb >= 12 ? (br->acc >> (nb - 12)) & 0xFFFu : (br->acc << (12 - nb)) & 0xFFFu;
    int32_t s = t->sym[peek], l = t->len[s];
    if (l > nb || l == 0) {
        return -1;
    }
    br->nbits = nb - l;
    return s;
}

static int args_ok(const mk_bits *br, const uint8_t *data, int32_t size, const int32_t *pos,
                   const uint8_t *out, int32_t n) {
    return br && pos && br->nbits >= 0 && br->nbits <= 32 && size >= 0 && *pos >= 0 && *pos <= size
           && (data || size == 0) && n >= 0 && (out || n == 0);
}

/* The decode loop: 4 symbols at a time into out[] until out reaches out_end
 * (4 * blocks past out) or, after a block, p passes p_last (each block reads at
 * most 8 bytes: p_last = the end of the data - 8). The unread bits are
 * left-justified in buf (the bits below them zero), and w = u - 16 (mod 2^32),
 * u = the bits of buf used up (<= 15 between symbols): adding a code's length
 * carries out exactly when u reaches 16, and w is then the new u, where the
 * next 16 bits (p even) go. 7 instructions per symbol, 6 more per 16 bits. */
typedef struct {
    uint32_t buf, w;
    const uint8_t *sym, *len;
    uint8_t *out, *out_end;
    const uint8_t *p, *p_last;
} huff_run;

#if MK_THUMB_ASM
#define HUFF_SYM(j) \
    "lsrs r4, r0, #20\n ldrb r5, [r2, r4]\n ldrb r4, [r3, r5]\n lsls r0, r4\n adds r1, r4\n bcc 2f\n" \
    "ldrh r4, [r7]\n rev16 r4, r4\n lsls r4, r1\n orrs r0, r4\n subs r1, #16\n adds r7, #2\n" \
    "2:\n strb r5, [r6, #" #j "]\n"
__attribute__((naked, noinline)) static void huff_loop(huff_run *r) {
    (void)r;
    __asm__ volatile(
        ".syntax unified\n"
        "push {r4, r5, r6, r7, lr}\n"
        "mov r4, r8\n mov r5, r9\n push {r4, r5}\n"
        "mov ip, r0\n"
        "ldr r1, [r0, #20]\n mov r8, r1\n"
        "ldr r1, [r0, #28]\n mov r9, r1\n"
        "ldr r1, [r0, #4]\n ldr r2, [r0, #8]\n ldr r3, [r0, #12]\n"
        "ldr r6, [r0, #16]\n ldr r7, [r0, #24]\n ldr r0, [r0, #0]\n"
        "1:\n"
        HUFF_SYM(0) HUFF_SYM(1) HUFF_SYM(2) HUFF_SYM(3)
        "adds r6, #4\n cmp r6, r8\n beq 3f\n cmp r7, r9\n bls 1b\n"
        "3:\n"
        "mov r4, ip\n str r0, [r4, #0]\n str r1, [r4, #4]\n str r6, [r4, #16]\n str r7, [r4, #24]\n"
        "pop {r4, r5}\n mov r8, r4\n mov r9, r5\n"
        "pop {r4, r5, r6, r7, pc}\n");
}
#else
static void huff_loop(huff_run *r) {
    uint32_t buf = r->buf, w = r->w;
    const uint8_t *sym = r->sym, *len = r->len, *p = r->p;
    uint8_t *o = r->out;
    do {
        uint32_t s = sym[buf >> 20], l = len[s];
        buf <<= l & 31u;
        if (l > 31u) {
            buf = 0;
        }
        uint32_t u = w + l;
        if (u < w) {   /* carry */
            uint32_t h = ((uint32_t)p[0] << 8) | p[1];
            buf |= u < 32u ? h << u : 0u;
            p += 2;
            u -= 16u;
        }
        w = u;
        *o++ = (uint8_t)s;
    } while (o != r->out_end && (((o - r->out) & 3) || p <= r->p_last));
    r->out = o;
    r->buf = buf;
    r->w = w;
    r->p = p;
}
#endif

MK_SMALL int32_t mk_huff_decode(const mk_huff_table *t, mk_bits *br,
                       const uint8_t *data, int32_t size, int32_t *pos,
                       uint8_t *out, int32_t n) {
    if (!table_ok(t) || !args_ok(br, data, size, pos, out, n)) {
        return MK_ERR_ARG;
    }
    if (t->max_len == 0) {
        for (int32_t i = 0; i < n; i++) {
            out[i] = t->single;
        }
        return n;
    }
    int32_t i = 0, nb = br->nbits;
    uint32_t acc = br->acc;
    const uint8_t *p = data + *pos, *end = data + size;
    while (i < n) {
        /* the fast loop: at least 17 bits held (u <= 15), p even, 8 bytes
         * of data and 4 symbols to go */
        if (nb >= 17 && !((uintptr_t)p & 1u) && end - p >= 8 && n - i >= 4) {
            huff_run r = {acc << (32 - nb), (uint32_t)(16 - nb), t->sym, t->len, out + i,
                          out + i + ((n - i) & ~3), p, end - 8};
            huff_loop(&r);
            uint32_t u = r.w + 16u;
            if (u > 32u) {
                return MK_ERR_ARG;   /* lengths above 16: a corrupted table */
            }
            i = (int32_t)(r.out - out);
            p = r.p;
            nb = 32 - (int32_t)u;
            acc = nb ? r.buf >> u : 0u;
            continue;
        }
        /* one byte more, or one symbol from the bits held */
        if (nb <= 24 && p < end) {
            acc = (acc << 8) | *p++;
            nb += 8;
            continue;
        }
        uint32_t peek = nb >= 12 ? acc >> (nb - 12) : acc << (12 - nb);
        int32_t s = t->sym[peek & 0xFFFu], l = t->len[s];
        if (l > nb || l == 0) {
            break;   /* needs the next chunk */
        }
        out[i++] = (uint8_t)s;
        nb -= l;
    }
    br->acc = acc;
    br->nbits = nb;
    *pos = (int32_t)(p - data);
    return i;
}

int32_t mk_zrun_decode(const mk_huff_table *runs, const mk_huff_table *values,
                       mk_zrun_state *st, const uint8_t *data, int32_t size, int32_t *pos,
                       uint8_t *out, int32_t n) {
    if (!st || !table_ok(runs) || !table_ok(values) || !args_ok(&st->br, data, size, pos, out, n)
        || st->zeros < 0 || st->zeros > 255 || st->left < 0) {
        return MK_ERR_ARG;
    }
    int32_t i = 0;
    while (i < n) {
        if (st->zeros > 0) {
            int32_t k = st->zeros < n - i ? st->zeros : n - i;
            for (int32_t j = 0; j < k; j++) {
                out[i + j] = 0;
            }
            i += k;
            st->zeros -= k;
            continue;
        }
        fill(&st->br, data, size, pos);
        if (st->want_value) {
            int32_t v = symbol(values, &st->br);
            if (v < 0) {
                break;
            }
            if (v == 0) {
                return MK_ERR_DATA;
            }
            out[i++] = (uint8_t)v;
            st->want_value = 0;
            st->left--;
            continue;
        }
        if (st->left == 0) {
            return MK_ERR_ARG;      /* more values asked for than the tensor has */
        }
        int32_t r = symbol(runs, &st->br);
        if (r < 0) {
            break;
        }
        if (r > st->left) {
            return MK_ERR_DATA;     /* runs overshoot count */
        }
        st->zeros = r;
        st->left -= r;
        st->want_value = r != 255 && st->left > 0;
    }
    return i;
}
