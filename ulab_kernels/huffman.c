/*
 * Resumable decoders of the .mote entropy codecs (docs/CODECS.md): the
 * canonical length-limited Huffman code of codec 1 and the zero-run tokens of
 * codec 2. Plain C, no allocation, no division.
 *
 * A table is built once from its code-length table (section 3). Decoding then
 * pulls payload bytes as needed from whatever chunk the caller holds; the
 * bits of a code cut by the end of a chunk wait in mk_bits until the next
 * call. A code is looked up in an 8-bit table first (codes up to 8 bits, the
 * usual case), longer ones by the canonical walk of section 3.5.
 */
#include "motes_kernels.h"

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

mk_status mk_huff_table_build(mk_huff_table *t, const uint8_t *data, int32_t size,
                              int zigzag, int32_t *used) {
    uint8_t len[256];
    mk_bits br = {0, 0};
    int32_t pos = 0;
    if (!t || !data || !used || size < 2) {
        return MK_ERR_DATA;
    }
    t->magic = 0;
    for (int32_t i = 0; i < 13; i++) {
        t->count[i] = 0;
    }
    int32_t m = data[0];
    if (m == 0) {                       /* zero-bit form */
        t->max_len = 0;
        t->single = data[1];
        t->count[0] = 1;
        t->sym[0] = data[1];
        for (int32_t i = 0; i < (1 << MK_HUFF_LUT_BITS); i++) {
            t->lut[i] = 0;
        }
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
                return MK_ERR_DATA;
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
            if (prev < 1 || prev > 12) {
                return MK_ERR_DATA;
            }
        }
        if (v < 0 || r > n - k) {
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
    /* counting pass, Kraft equality, canonical order */
    uint16_t next[13];
    int32_t kraft = 0, big = 0, total = 0;
    for (int32_t s = 0; s < 256; s++) {
        t->count[len[s]]++;
    }
    t->count[0] = 0;
    for (int32_t l = 1; l <= 12; l++) {
        next[l] = (uint16_t)total;
        total += t->count[l];
        if (t->count[l]) {
            kraft += t->count[l] << (12 - l);
            big = l;
        }
    }
    if (kraft != 4096) {
        return MK_ERR_DATA;
    }
    for (int32_t s = 0; s < 256; s++) {
        if (len[s]) {
            t->sym[next[len[s]]++] = (uint8_t)s;
        }
    }
    /* first-level lookup table: codes of up to 8 bits, left-justified */
    for (int32_t i = 0; i < (1 << MK_HUFF_LUT_BITS); i++) {
        t->lut[i] = 0;
    }
    uint32_t code = 0;
    int32_t j = 0;
    for (int32_t l = 1; l <= big && l <= MK_HUFF_LUT_BITS; l++) {
        for (int32_t c = 0; c < t->count[l]; c++, j++, code++) {
            int32_t sh = MK_HUFF_LUT_BITS - l;
            uint16_t e = (uint16_t)((t->sym[j] << 4) | l);
            for (uint32_t x = code << sh; x < ((code + 1) << sh); x++) {
                t->lut[x] = e;
            }
        }
        code <<= 1;
    }
    t->max_len = (uint8_t)big;
    t->single = 0;
    t->magic = MK_HUFF_MAGIC;
    /* the table is byte aligned: bytes fully pulled in, minus whole bytes still unread */
    *used = pos - (br.nbits >> 3);
    return MK_OK;
}

static int table_ok(const mk_huff_table *t) {
    if (!t || t->magic != MK_HUFF_MAGIC || t->max_len > 12) {
        return 0;
    }
    int32_t total = 0;
    for (int32_t l = 1; l <= 12; l++) {
        total += t->count[l];
    }
    return total <= 256;
}

/* One symbol from the bits in br (at most 32), or -1 if they end inside a code. */
static inline int32_t symbol(const mk_huff_table *t, mk_bits *br) {
    int32_t nb = br->nbits;
    if (t->max_len == 0) {
        return t->single;
    }
    /* peek 8 bits (zeros past the available ones: a code that fits is still found) */
    uint32_t peek = nb >= MK_HUFF_LUT_BITS ? (br->acc >> (nb - MK_HUFF_LUT_BITS)) & 0xFFu
                                           : (br->acc << (MK_HUFF_LUT_BITS - nb)) & 0xFFu;
    uint32_t e = t->lut[peek];
    if (e) {
        int32_t l = (int32_t)(e & 15u);
        if (l > nb) {
            return -1;
        }
        br->nbits = nb - l;
        return (int32_t)(e >> 4);
    }
    /* canonical walk, bit by bit */
    int32_t code = 0, first = 0, index = 0;
    for (int32_t l = 1; l <= t->max_len; l++) {
        if (l > nb) {
            return -1;
        }
        code |= (int32_t)((br->acc >> (nb - l)) & 1u);
        int32_t count = t->count[l];
        if (code < first + count) {
            br->nbits = nb - l;
            return t->sym[index + code - first];
        }
        index += count;
        first = (first + count) << 1;
        code <<= 1;
    }
    return -1;   /* not reached with a complete code */
}

static int args_ok(const mk_bits *br, const uint8_t *data, int32_t size, const int32_t *pos,
                   const uint8_t *out, int32_t n) {
    return br && pos && br->nbits >= 0 && br->nbits <= 32 && size >= 0 && *pos >= 0 && *pos <= size
           && (data || size == 0) && n >= 0 && (out || n == 0);
}

int32_t mk_huff_decode(const mk_huff_table *t, mk_bits *br,
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
    int32_t i = 0;
    /* Fast path: the unread bits left-justified in a local word (buf), at
     * least 16 of them (refills of 2 or 3 bytes), so a code of up to 12 bits
     * is always whole: the 8-bit table for codes of up to 8 bits, longer ones
     * by comparing the top l bits with lim[l] = first[l] + count[l] of the
     * canonical code (sym index = code + base[l]). The end of the chunk
     * takes one step of the general loop below on br. */
    uint32_t lim[14];
    int32_t base[14];
    {
        uint32_t first = 0;
        int32_t index = 0;
        for (int32_t l = 1; l <= 12; l++) {
            uint32_t cnt = t->count[l];
            lim[l] = l <= t->max_len ? first + cnt : 0xFFFFFFFFu;
            base[l] = index - (int32_t)first;
            index += (int32_t)cnt;
            first = (first + cnt) << 1;
        }
        lim[13] = 0xFFFFFFFFu;
        base[13] = 0;
    }
    const uint16_t *lut = t->lut;
    const uint8_t *sym = t->sym;
    const int32_t max_len = t->max_len;
    const uint8_t *p = data + *pos, *end = data + size;
    int32_t nb = br->nbits;
    uint32_t buf = nb ? br->acc << (32 - nb) : 0u;
    while (i < n) {
        if (nb < 16) {
            if (end - p < 3) {
                goto slow;
            }
            if (nb <= 8) {
                buf |= (((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | p[2]) << (8 - nb);
                nb += 24;
                p += 3;
            } else {
                buf |= (((uint32_t)p[0] << 8) | p[1]) << (16 - nb);
                nb += 16;
                p += 2;
            }
        }
        uint32_t e = lut[buf >> 24];
        if (e) {
            uint32_t l = e & 15u;
            buf <<= l;
            nb -= (int32_t)l;
            out[i++] = (uint8_t)(e >> 4);
            continue;
        }
        {
            int32_t l = 9;
            uint32_t code = buf >> 23;
            while (code >= lim[l]) {
                l++;
                code = buf >> (32 - l);
            }
            if (l > max_len) {
                goto slow;
            }
            buf <<= l;
            nb -= l;
            out[i++] = sym[(int32_t)code + base[l]];
            continue;
        }
    slow:
        br->acc = nb ? buf >> (32 - nb) : 0u;
        br->nbits = nb;
        *pos = (int32_t)(p - data);
        fill(br, data, size, pos);
        int32_t s = symbol(t, br);
        if (s < 0) {
            return i;   /* needs the next chunk */
        }
        out[i++] = (uint8_t)s;
        p = data + *pos;
        nb = br->nbits;
        buf = nb ? br->acc << (32 - nb) : 0u;
    }
    br->acc = nb ? buf >> (32 - nb) : 0u;
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
