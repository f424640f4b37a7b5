/*
 * Naive TFLM-style int8 kernels: the baseline that bench/m0_kernels.py puts
 * beside motes's ulab_kernels/kernels.c on the emulated Cortex-M0+.
 *
 * Written the way TensorFlow Lite Micro's reference kernels are
 * (reference/integer_ops/fully_connected.h, conv.h, depthwise_conv.h): one
 * output value at a time, the innermost loop one multiply-accumulate with
 * bounds checks in the loop nest, and MultiplyByQuantizedMultiplier in int64
 * (which pulls __aeabi_lmul from libgcc on ARMv6-M, as TFLM does).
 *
 * Same signatures as the mk_* kernels (prefix naive_ instead of mk_), so the
 * harness calls both the same way.
 */
#include "motes_kernels.h"

static int32_t srdhm(int32_t a, int32_t b)
{
    int overflow = a == b && a == INT32_MIN;
    int64_t ab = (int64_t)a * (int64_t)b;
    int32_t nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    int64_t s = ab + nudge;
    /* C division by 2^31 truncating toward zero, without a division */
    int32_t high = (int32_t)(s >= 0 ? (s >> 31) : -((-s) >> 31));
    return overflow ? INT32_MAX : high;
}

static int32_t rdbp(int32_t x, int exponent)
{
    int32_t mask = (int32_t)((1u << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static int32_t mbqm(int32_t x, int32_t multiplier, int shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return rdbp(srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

mk_status naive_fully_connected_s8(const mk_fc_params *p, const mk_quant *q,
                                   const mk_dims *in, const int8_t *input,
                                   const mk_dims *filter, const int8_t *weights,
                                   const int32_t *bias,
                                   const mk_dims *out, int8_t *output)
{
    const int32_t depth = filter->c;
    const int32_t out_ch = filter->n;
    const int32_t batches = out->n * out->h * out->w;
    const int32_t out_depth = out->c;
    (void)in;
    for (int32_t b = 0; b < batches; ++b) {
        for (int32_t o = 0; o < out_ch; ++o) {
            int32_t oc = o + p->out_ch_start;
            int32_t acc = 0;
            for (int32_t d = 0; d < depth; ++d) {
                int32_t x = input[b * depth + d];
                int32_t w = weights[o * depth + d];
                acc += (w + p->filter_offset) * (x + p->input_offset);
            }
            if (bias) acc += bias[oc];
            int32_t qi = q->count == 1 ? 0 : oc;
            acc = mbqm(acc, q->multiplier[qi], q->shift[qi]);
            acc += p->output_offset;
            if (acc < p->act_min) acc = p->act_min;
            if (acc > p->act_max) acc = p->act_max;
            output[b * out_depth + oc] = (int8_t)acc;
        }
    }
    return MK_OK;
}

mk_status naive_convolve_s8(const mk_ctx *ctx, const mk_conv_params *p, const mk_quant *q,
                            const mk_dims *in, const int8_t *input,
                            const mk_dims *filter, const int8_t *weights,
                            const int32_t *bias,
                            const mk_dims *out, int8_t *output)
{
    (void)ctx;
    const int32_t in_h = in->h, in_w = in->w, in_d = in->c;
    const int32_t fh = filter->h, fw = filter->w, fd = filter->c, f_out = filter->n;
    const int32_t out_h = out->h, out_w = out->w, out_d = out->c;
    /* groups = in_d / fd, computed without a division */
    int32_t groups = 0;
    for (int32_t s = 0; s < in_d; s += fd) ++groups;
    int32_t per_group = 0;
    for (int32_t s = 0; s < out_d; s += groups) ++per_group;
    for (int32_t b = 0; b < in->n; ++b) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (int32_t o = 0; o < f_out; ++o) {
                    const int32_t oc = o + p->out_ch_start;
                    int32_t g = 0;
                    for (int32_t s = per_group; s <= oc; s += per_group) ++g;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < fh; ++ky) {
                        const int32_t iy = iy0 + p->dilation_h * ky;
                        for (int32_t kx = 0; kx < fw; ++kx) {
                            const int32_t ix = ix0 + p->dilation_w * kx;
                            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
                            for (int32_t c = 0; c < fd; ++c) {
                                int32_t x = input[((b * in_h + iy) * in_w + ix) * in_d + g * fd + c];
                                int32_t w = weights[((o * fh + ky) * fw + kx) * fd + c];
                                acc += w * (x + p->input_offset);
                            }
                        }
                    }
                    if (bias) acc += bias[oc];
                    int32_t qi = q->count == 1 ? 0 : oc;
                    acc = mbqm(acc, q->multiplier[qi], q->shift[qi]);
                    acc += p->output_offset;
                    if (acc < p->act_min) acc = p->act_min;
                    if (acc > p->act_max) acc = p->act_max;
                    output[((b * out_h + oy) * out_w + ox) * out_d + oc] = (int8_t)acc;
                }
            }
        }
    }
    return MK_OK;
}

mk_status naive_depthwise_conv_s8(const mk_conv_params *p, const mk_quant *q,
                                  const mk_dims *in, const int8_t *input,
                                  const mk_dims *filter, const int8_t *weights,
                                  const int32_t *bias,
                                  const mk_dims *out, int8_t *output)
{
    const int32_t in_h = in->h, in_w = in->w, in_d = in->c;
    const int32_t fh = filter->h, fw = filter->w;
    const int32_t out_h = out->h, out_w = out->w, out_d = out->c;
    const int32_t dm = p->depth_multiplier;
    for (int32_t b = 0; b < in->n; ++b) {
        for (int32_t oy = 0; oy < out_h; ++oy) {
            for (int32_t ox = 0; ox < out_w; ++ox) {
                for (int32_t ic = 0; ic < in_d; ++ic) {
                    for (int32_t m = 0; m < dm; ++m) {
                        const int32_t oc = m + ic * dm;
                        const int32_t iy0 = oy * p->stride_h - p->pad_h;
                        const int32_t ix0 = ox * p->stride_w - p->pad_w;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < fh; ++ky) {
                            for (int32_t kx = 0; kx < fw; ++kx) {
                                const int32_t iy = iy0 + p->dilation_h * ky;
                                const int32_t ix = ix0 + p->dilation_w * kx;
                                if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) continue;
                                int32_t x = input[((b * in_h + iy) * in_w + ix) * in_d + ic];
                                int32_t w = weights[(ky * fw + kx) * out_d + oc];
                                acc += w * (x + p->input_offset);
                            }
                        }
                        if (bias) acc += bias[oc];
                        int32_t qi = q->count == 1 ? 0 : oc;
                        acc = mbqm(acc, q->multiplier[qi], q->shift[qi]);
                        acc += p->output_offset;
                        if (acc < p->act_min) acc = p->act_min;
                        if (acc > p->act_max) acc = p->act_max;
                        output[((b * out_h + oy) * out_w + ox) * out_d + oc] = (int8_t)acc;
                    }
                }
            }
        }
    }
    return MK_OK;
}
