/* The M0 harness's own startup/entry file (host/motes/m0/toolchain.py links it
 * with the kernels): nothing runs before a kernel (the loader in cpu.py places
 * .data and zeroes .bss itself); it pins the struct layout the harness writes
 * (cpu.EXPECTED_LAYOUT checks mk_harness_layout at load), and gives
 * memset/memcpy/memmove in case the compiler emits calls to them (reported:
 * a natmod has to provide them too). */
#include <stddef.h>
#include "motes_kernels.h"

#define OFF(t, f) ((int32_t)offsetof(t, f))
#define SZ(t) ((int32_t)sizeof(t))
/* (key, value) pairs; the harness checks each key it knows */
const int32_t mk_harness_layout[] = {
    1, SZ(mk_dims), 2, SZ(mk_ctx), 3, SZ(mk_quant), 4, SZ(mk_fc_params), 5, SZ(mk_conv_params),
    6, SZ(mk_pool_params), 7, OFF(mk_dims, c), 8, OFF(mk_ctx, size), 9, OFF(mk_quant, shift),
    10, OFF(mk_quant, count), 11, OFF(mk_fc_params, filter_offset), 12, OFF(mk_fc_params, out_ch_start),
    13, OFF(mk_conv_params, dilation_h), 14, OFF(mk_conv_params, pad_w), 15, OFF(mk_conv_params, input_offset),
    16, OFF(mk_conv_params, act_max), 17, OFF(mk_conv_params, depth_multiplier),
    18, OFF(mk_conv_params, out_ch_start), 19, OFF(mk_pool_params, stride_h), 20, OFF(mk_pool_params, act_max),
    21, OFF(mk_fc_params, interleaved), 22, OFF(mk_conv_params, interleaved), 23, MK_API_VERSION,
    24, OFF(mk_fc_params, prepared), 25, MK_RQ_WORDS,
#ifdef MK_MAX_RANK
    30, SZ(mk_elem_params), 31, OFF(mk_elem_params, left_shift), 32, OFF(mk_elem_params, output_shift),
    33, OFF(mk_elem_params, act_max), 34, SZ(mk_shape), 35, OFF(mk_shape, d), 36, MK_MAX_RANK,
    37, SZ(mk_elem_op), 38, MK_ADD, 39, MK_SUB, 40, MK_MUL,
#endif
#ifdef MK_HUFF_MAGIC
    50, SZ(mk_huff_table), 51, SZ(mk_bits), 52, OFF(mk_bits, nbits), 53, SZ(mk_zrun_state),
    54, OFF(mk_zrun_state, left), 55, MK_HUFF_TABLE_MAX_BYTES,
#endif
    0, 0,
};

__attribute__((weak)) void *memset(void *d, int c, size_t n)
{ unsigned char *p = d; while (n--) *p++ = (unsigned char)c; return d; }
__attribute__((weak)) void *memcpy(void *d, const void *s, size_t n)
{ unsigned char *p = d; const unsigned char *q = s; while (n--) *p++ = *q++; return d; }
__attribute__((weak)) void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *p = d; const unsigned char *q = s;
    if (p < q) { while (n--) *p++ = *q++; } else { p += n; q += n; while (n--) *--p = *--q; }
    return d;
}

void _start(void) { for (;;) { } }
