/*
 * motes int8 kernels: plain C, no MicroPython headers, no allocation, no
 * integer division, no floating point. Bit-exact with TensorFlow Lite Micro's
 * reference kernels (the host's numpy kernels in host/motes/ops/ are the
 * executable specification; docs/FORMAT.md gives the params of each op).
 *
 * Conventions (CMSIS-NN style): every kernel takes its op params, its quant
 * params, then (dims, data) pairs: input(s), filter, bias, output. Buffers are
 * owned by the caller; a kernel that needs scratch says how much through a
 * *_scratch_size() function and gets it through mk_ctx. Kernels return
 * MK_OK or a negative mk_status and never write outside the buffers whose
 * sizes the dims describe. Tensors are NHWC; filters keep TFLite layouts:
 * FULLY_CONNECTED [out, depth], CONV_2D [out, kh, kw, in/groups],
 * DEPTHWISE_CONV_2D [1, kh, kw, in*multiplier].
 *
 * Every kernel checks its dims and params first (negative or oversized dims,
 * zero strides, inconsistent channel counts: MK_ERR_ARG) and only then writes.
 * Limits: dims are >= 0, h, w, filter sizes and pads at most MK_MAX_DIM,
 * element counts below 2^31, strides and dilations in 1..MK_MAX_STEP. Reads stay inside the buffers the dims describe too:
 * window taps outside the image are skipped, never read.
 *
 * Build notes: the code needs neither libgcc nor libc (no division, no 64-bit
 * multiply helper on ARMv6-M: 32x32->64 products are done in 16-bit limbs
 * there), so it links into a MicroPython native module (.mpy) as it is.
 */
#ifndef MOTES_KERNELS_H
#define MOTES_KERNELS_H

#include <stdint.h>
#include <stddef.h>

#define MK_API_VERSION 4   /* 4: SOFTMAX, LOGISTIC, TANH, MEAN */

/* Which kernels a build holds (kernels.c, modmotes.c). A firmware's user C
 * module has them all (the defaults: its code is in flash). The native
 * module build makes two .mpy files, because on a board a native module's
 * code is loaded into the heap: motes_native (MK_MORE 0: FULLY_CONNECTED,
 * CONV_2D, DEPTHWISE_CONV_2D, the pools, SOFTMAX, the decoders), which every
 * model needs, and motes_native_more (MK_CORE 0: ADD, SUB, MUL, LOGISTIC,
 * TANH, MEAN), imported only by a model that has one of those ops. */
#ifndef MK_CORE
#define MK_CORE 1
#endif
#ifndef MK_MORE
#define MK_MORE 1
#endif

/* The hand-written loops are Thumb-1 (ARMv6-M, unified syntax). Thumb-2 cores
 * (Cortex-M3/M4/M7) run the same instructions, so they take them too: on the
 * emulated M3, person_detect streaming went from 51.2 to 48.7 million
 * instructions an inference (the C versions serve every other arch). */
#if defined(__thumb__) && defined(__GNUC__) && !defined(__clang__)
#define MK_THUMB_ASM 1
#else
#define MK_THUMB_ASM 0
#endif

#define MK_MAX_DIM 32767      /* largest h, w, filter size or pad */
#define MK_MAX_STEP 255       /* largest stride or dilation */
#define MK_MAX_RANK 6         /* elementwise ops: broadcast over up to 6 dims */

typedef enum {
    MK_OK = 0,
    MK_ERR_ARG = -1,       /* inconsistent dims or params */
    MK_ERR_SCRATCH = -2,   /* scratch buffer missing or too small */
    MK_ERR_DATA = -3,      /* corrupt encoded data (decoders) */
    MK_ERR_SHORT = -4,     /* encoded data that ends too early (a code table cut short) */
} mk_status;

typedef struct { int32_t n, h, w, c; } mk_dims;

typedef struct { void *buf; int32_t size; } mk_ctx;   /* scratch owned by the caller */

/* Per-channel (or per-tensor: count 1) requantization, TFLM QuantizeMultiplier form. */
typedef struct {
    const int32_t *multiplier;
    const int8_t *shift;          /* positive = left shift */
    int32_t count;                /* 1 (per-tensor) or the number of output channels */
} mk_quant;

/* Interleaved weights (FULLY_CONNECTED, CONV_2D; docs/FORMAT.md "Interleaved
 * weights", format 1.2): with interleaved != 0 the weights are the chunk's
 * rows in groups of 8 output channels, input-major within a group (weight k
 * of channel 8g + r at 8 g depth + k R_g + r), each byte stored as offset
 * binary (w ^ 0x80: see mk_flip_s8). out_ch_start is a multiple of 8 and the
 * chunk is whole groups (rows a multiple of 8, or it ends at the last output
 * channel). FULLY_CONNECTED: bias is not NULL and holds the folded bias,
 * bias' = bias + input_offset * sum(w), and acc = bias'[o] + sum x * w
 * (filter_offset must be 0). CONV_2D: TFLite's bias as it is (NULL allowed)
 * and TFLite's arithmetic, acc = bias[o] + sum over the taps inside the
 * image of (x + input_offset) * w (the kernel works out each channel's
 * sum(w) from the offset binary bytes once per call); no groups (filter c ==
 * input c). Else MK_ERR_ARG. Bit-exact with the row-major layout.
 *
 * Streaming: filter dims may describe a chunk of consecutive output channels
 * starting at out_ch_start (bias and quant arrays stay whole, indexed by the
 * absolute channel); the kernel then writes only those output channels. */
typedef struct {
    int32_t input_offset, filter_offset, output_offset, act_min, act_max;
    int32_t out_ch_start;
    int32_t interleaved;          /* 1: the weights in the interleaved layout (below) */
    const int32_t *prepared;      /* NULL, or (interleaved) a requantization table (below) */
} mk_fc_params;

typedef struct {
    int32_t stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t input_offset, output_offset, act_min, act_max;
    int32_t depth_multiplier;     /* depthwise only */
    int32_t out_ch_start;         /* conv only: see mk_fc_params */
    int32_t interleaved;          /* conv only: see mk_fc_params */
} mk_conv_params;

typedef struct {
    int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w, act_min, act_max;
} mk_pool_params;

/* ADD, SUB, MUL: the 12 params of the op table, in its order (MUL uses only the
 * offsets, output_multiplier/shift and the clamp). */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset, left_shift;
    int32_t input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift, act_min, act_max;
} mk_elem_params;

typedef enum { MK_ADD = 0, MK_SUB = 1, MK_MUL = 2 } mk_elem_op;

/* A shape of any rank up to MK_MAX_RANK (TFLite order, row-major data). */
typedef struct { int32_t rank; int32_t d[MK_MAX_RANK]; } mk_shape;

/* TFLM MultiplyByQuantizedMultiplier (double rounding), exposed for tests. */
int32_t mk_requantize(int32_t x, int32_t multiplier, int32_t shift);

/* Number of elements of dims, or -1 if a dim is negative, h or w is above
 * MK_MAX_DIM, or the count does not fit in int32. */
int32_t mk_dims_count(const mk_dims *d);

/* Number of elements of a shape, or -1 (negative dim, rank outside
 * 0..MK_MAX_RANK, count above int32). */
int32_t mk_shape_count(const mk_shape *s);

/* FULLY_CONNECTED. in: batches = n*h*w rows of depth c. filter: n = output
 * channels of this chunk (starting at p->out_ch_start), c = depth (h = w = 1).
 * out: the same batches (n*h*w), c = all output channels. bias may be NULL
 * (not with interleaved weights: the folded bias is required). */
mk_status mk_fully_connected_s8(const mk_fc_params *p, const mk_quant *q,
                                const mk_dims *in, const int8_t *input,
                                const mk_dims *filter, const int8_t *weights,
                                const int32_t *bias,
                                const mk_dims *out, int8_t *output);

/* An interleaved FULLY_CONNECTED's requantization, prepared once (at load)
 * by the caller: p->prepared = MK_RQ_WORDS int32 per output channel o (all
 * channels, indexed by o), for the layer's multiplier m and shift s (of o,
 * or the one of a per-tensor layer) and its output_offset and act_min:
 *     m & 0x7FF, (m >> 11) & 0x7FF, m >> 22,
 *     2^(8-s) + 2^8 + (output_offset - act_min) * 2^(9-s),  9 - s
 * when m >= 0 and -13 <= s <= -1; else 0, 0, 0, 2^30, 0. The results are
 * the same as with prepared = NULL; ARMv6-M then spends about 27
 * instructions a row on requantization instead of about 45. A table made
 * for other params gives wrong numbers (never a read or write outside the
 * buffers). */
#define MK_RQ_WORDS 5

/* CONV_2D, grouped when in.c is a multiple of filter.c. filter: n = output
 * channels of this chunk (from p->out_ch_start), h, w = kernel, c = in/groups.
 * input_offset in -127 .. 128 (minus an int8 zero point; else MK_ERR_ARG).
 * bias may be NULL (interleaved weights too). Scratch: filter.h * filter.w *
 * filter.c bytes (the im2col patch). */
int32_t mk_convolve_s8_scratch_size(const mk_conv_params *p, const mk_dims *in, const mk_dims *filter);
mk_status mk_convolve_s8(const mk_ctx *ctx, const mk_conv_params *p, const mk_quant *q,
                         const mk_dims *in, const int8_t *input,
                         const mk_dims *filter, const int8_t *weights,
                         const int32_t *bias,
                         const mk_dims *out, int8_t *output);

/* DEPTHWISE_CONV_2D: out.c = filter.c = in.c * p->depth_multiplier, filter.n = 1. */
mk_status mk_depthwise_conv_s8(const mk_conv_params *p, const mk_quant *q,
                               const mk_dims *in, const int8_t *input,
                               const mk_dims *filter, const int8_t *weights,
                               const int32_t *bias,
                               const mk_dims *out, int8_t *output);

/* buf[0 .. n) ^= 0x80 (int8 <-> offset binary), n >= 0 */
void mk_flip_s8(int8_t *buf, int32_t n);

/* AVERAGE_POOL_2D / MAX_POOL_2D (windows clipped to the image; an average
 * over a window that misses the image entirely is MK_ERR_ARG, as in TFLM's
 * Prepare). */
mk_status mk_avgpool_s8(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                        const mk_dims *out, int8_t *output);
mk_status mk_maxpool_s8(const mk_pool_params *p, const mk_dims *in, const int8_t *input,
                        const mk_dims *out, int8_t *output);

/* ADD / SUB / MUL with numpy broadcasting: the shapes are right-aligned, each
 * dim of in1/in2 is 1 or the broadcast dim. The output holds the broadcast
 * shape's elements in row-major order; out gives its shape (any shape with
 * that element count, e.g. after a reshape). */
mk_status mk_elementwise_s8(mk_elem_op op, const mk_elem_params *p,
                            const mk_shape *in1, const int8_t *input1,
                            const mk_shape *in2, const int8_t *input2,
                            const mk_shape *out, int8_t *output);

/* SOFTMAX over rows of depth values (TFLM's int8 reference: gemmlowp
 * fixed-point exp of (x - max) * beta, sum in Q12.19, reciprocal; output scale
 * 1/256, zero point -128). The host's prepare gives the params:
 * input_left_shift 0 .. 31, input_multiplier >= 0 (else MK_ERR_ARG). */
typedef struct { int32_t input_multiplier, input_left_shift, diff_min; } mk_softmax_params;
mk_status mk_softmax_s8(const mk_softmax_params *p, int32_t rows, int32_t depth,
                        const int8_t *input, int8_t *output);

/* LOGISTIC / TANH on n int8 values (TFLM's int8 reference: the input minus
 * its zero point, rescaled to Q4.27 by input_multiplier / input_shift (a left
 * shift), gemmlowp logistic or tanh, the output at scale 1/256 zero point
 * -128 (LOGISTIC) or 1/128 and 0 (TANH); inputs at or beyond +-radius
 * saturate). Above 256 values each int8 value is worked out once, into a
 * 256-byte table on the stack. */
typedef struct {   /* the op table's 9 params, in its order (the kernels use 4) */
    int32_t input_zero_point, output_zero_point, input_multiplier, input_shift;
    int32_t multiplier2, shift2, input_range_radius, act_min, act_max;
} mk_act_params;
mk_status mk_logistic_s8(const mk_act_params *p, int32_t n, const int8_t *input, int8_t *output);
mk_status mk_tanh_s8(const mk_act_params *p, int32_t n, const int8_t *input, int8_t *output);

/* MEAN over the dims of in whose bit is set in axes (bit k = dim k): for each
 * output (the kept dims in row-major order) the int32 sum of the int8 inputs,
 * plus sum_offset (-input zero point * count), requantized (multiplier and
 * shift already scaled by 1/count), plus output_offset, clamped to int8.
 * A reduced dim of 0 is MK_ERR_ARG. */
typedef struct { int32_t multiplier, shift, sum_offset, output_offset; } mk_mean_params;
mk_status mk_mean_s8(const mk_mean_params *p, const mk_shape *in, int32_t axes,
                     const int8_t *input, int8_t *output);

/* ---------------------------------------------------------------------------
 * Decoders of the entropy codecs of docs/CODECS.md: 1 (huffman) and 2
 * (zerorun). Resumable: the payload may be fed in chunks of any size (the
 * bit state is kept between calls), and values come out in pieces of any size.
 * ------------------------------------------------------------------------- */

#define MK_HUFF_LUT_BITS 12    /* = the longest code: one lookup decodes any code */
#define MK_HUFF_TABLE_MAX_BYTES 321   /* longest code-length table (256 SETs) */
#define MK_HUFF_MAGIC 0x4d49u

/* A canonical code built from a code-length table (CODECS.md §3): the
 * 2^12-entry lookup table of section 3.5, split in two (next 12 bits ->
 * symbol, symbol -> length) so one entry is a byte. 4.3 KB. */
typedef struct {
    uint8_t sym[1 << MK_HUFF_LUT_BITS];  /* next 12 bits (MSB first) -> symbol */
    uint8_t len[256];                    /* symbol -> code length (0: absent) */
    uint16_t magic;                      /* MK_HUFF_MAGIC once built */
    uint8_t max_len;                     /* longest code; 0: zero-bit form */
    uint8_t single;                      /* zero-bit form: the only symbol */
} mk_huff_table;

/* MSB-first bit reader state: the low nbits (0..32) bits of acc are unread. */
typedef struct { uint32_t acc; int32_t nbits; } mk_bits;

/* Parse the code-length table at data[0 .. size) (zigzag != 0: int8 value
 * order, else natural order) into t; *used = the table's bytes. Checks the
 * validity rules of CODECS.md §3.3 and zero padding bits; MK_ERR_DATA when
 * the table is corrupt or does not end within size bytes (pass at least
 * min(MK_HUFF_TABLE_MAX_BYTES, bytes left in the payload)). */
mk_status mk_huff_table_build(mk_huff_table *t, const uint8_t *data, int32_t size,
                              int zigzag, int32_t *used);

/* Codec 1: decode up to n symbols into out[0 .. n) (int8 values as bytes),
 * pulling bytes from data[*pos .. size) and advancing *pos. Returns how many
 * symbols were written: fewer than n when the data ran out in the middle of
 * a code (call again with the next chunk; the partial bits are kept in br),
 * or a negative mk_status (MK_ERR_ARG for a table that was not built). */
int32_t mk_huff_decode(const mk_huff_table *t, mk_bits *br,
                       const uint8_t *data, int32_t size, int32_t *pos,
                       uint8_t *out, int32_t n);

/* Codec 2: state between calls. Start with everything 0 and left = count. */
typedef struct {
    mk_bits br;
    int32_t zeros;        /* zeros still to emit from the last run symbol */
    int32_t want_value;   /* 1: a value code comes next */
    int32_t left;         /* values of the tensor not yet covered by tokens */
} mk_zrun_state;

/* Codec 2: like mk_huff_decode, with the run and value tables. MK_ERR_DATA
 * for a value code of 0 or runs that overshoot the count; asking for more
 * values than the tensor has is MK_ERR_ARG. */
int32_t mk_zrun_decode(const mk_huff_table *runs, const mk_huff_table *values,
                       mk_zrun_state *st, const uint8_t *data, int32_t size, int32_t *pos,
                       uint8_t *out, int32_t n);

#endif
