"""Integer arithmetic of TensorFlow Lite Micro's reference kernels, in numpy.

Everything here reproduces TFLM bit for bit (default build, i.e. the
"double rounding" MultiplyByQuantizedMultiplier of
tensorflow/lite/kernels/internal/common.h), using int64 intermediates.
`prepare`-time helpers (QuantizeMultiplier, activation ranges) run in float64
exactly as TFLM's Prepare does.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT8_MIN, INT8_MAX = -128, 127

# TFLite fused activation function codes (ActivationFunctionType)
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6, ACT_TANH, ACT_SIGN_BIT = range(6)
# TFLite Padding codes
PADDING_SAME, PADDING_VALID = 0, 1


def tflite_round(x: float) -> int:
    """std::round: halves go away from zero (numpy's round goes to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real -> (int32 multiplier in [2^30, 2^31), shift)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplierSmallerThanOneExp; shift returned as a (<= 0) left shift."""
    if not 0.0 < real < 1.0:
        raise ValueError(f"multiplier {real} must be in (0, 1)")
    return quantize_multiplier(real)


def activation_range(act: int, scale: float, zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for a fused activation code."""
    def q(f):  # TFLM Quantize(): float32 division, then round
        return zero_point + tflite_round(float(np.float32(f) / np.float32(scale)))
    if act == ACT_NONE:
        return qmin, qmax
    if act == ACT_RELU:
        return max(qmin, q(0.0)), qmax
    if act == ACT_RELU6:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == ACT_RELU_N1_TO_1:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"fused activation {act} is not supported for int8 (only NONE, RELU, RELU6, RELU_N1_TO_1)")


def _i64(x):
    return np.asarray(x, dtype=np.int64)


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values (int64 arrays)."""
    a, b = _i64(a), _i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    s = ab + nudge
    # C++ integer division truncates toward zero
    high = np.where(s >= 0, s >> 31, -((-s) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, high)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x, e = _i64(x), _i64(exponent)
    mask = (np.int64(1) << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> e) + (remainder > threshold)


def wrap_int32(x):
    """Two's-complement wrap to int32, as C++ int32 arithmetic does."""
    x = _i64(x)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLM MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift).

    multiplier and shift may be scalars or arrays that broadcast against x
    (per-channel: shape [C] against [..., C]).
    """
    shift = _i64(shift)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(wrap_int32(_i64(x) << left), multiplier), right)


def requantize(acc, multiplier, shift, output_offset, act_min, act_max):
    """acc (int32 accumulators) -> int8 output: scale, add zero point, clamp."""
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset
    return np.clip(out, act_min, act_max).astype(np.int8)


# ---------------------------------------------------------------------------
# gemmlowp fixed-point maths (fixedpoint/fixedpoint.h) and the TFLM helpers
# built on it (softmax / logistic / tanh). Raw values are int32 held in int64
# numpy arrays; a FixedPoint<int32, I> has 31 - I fractional bits.
# ---------------------------------------------------------------------------

def count_leading_zeros_u32(x):
    """__builtin_clz of uint32 values (32 for 0)."""
    x = _i64(x) & 0xFFFFFFFF
    n = np.full(x.shape, 32, dtype=np.int64)
    for bit in range(31, -1, -1):
        hit = (n == 32) & ((x >> bit) & 1).astype(bool)
        n = np.where(hit, 31 - bit, n)
    return n


def rounding_half_sum(a, b):
    """gemmlowp RoundingHalfSum (int32): (a + b +/- 1) / 2, C++ division."""
    s = _i64(a) + _i64(b)
    s = s + np.where(s >= 0, 1, -1)
    return np.where(s >= 0, s >> 1, -((-s) >> 1))


def saturating_rounding_multiply_by_pot(x, exponent: int):
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 raw values."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX,
                    np.where(x < -threshold, INT32_MIN, x << exponent))


def fixedpoint_rescale(x, src_integer_bits: int, dst_integer_bits: int):
    """gemmlowp Rescale<dst>(FixedPoint<int32, src>)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    srdhm = saturating_rounding_doubling_high_mul
    constant_term = 1895147668          # exp(-1/8)
    constant_1_over_3 = 715827883
    x = wrap_int32(_i64(a) + (1 << 28))  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(
        wrap_int32(srdhm(wrap_int32(x4_over_4 + x3), constant_1_over_3) + x2), 1)
    return wrap_int32(constant_term + srdhm(constant_term, wrap_int32(x + poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits: int):
    """gemmlowp exp_on_negative_values: FixedPoint<int32, integer_bits> (a <= 0) -> Q0.31."""
    a = _i64(a)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        fixedpoint_rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = wrap_int32(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder >> (frac_bits + exponent)) & 1
            result = np.where(bit != 0, saturating_rounding_doubling_high_mul(result, multiplier),
                              result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))       # -32.0
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def one_over_one_plus_x_for_x_in_0_1(a):
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: Q0.31 -> Q0.31 (Newton-Raphson)."""
    srdhm = saturating_rounding_doubling_high_mul
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap_int32(1515870810 + srdhm(half_denominator, -1010580540))   # Q2.29
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - srdhm(half_denominator, x))
        x = wrap_int32(x + fixedpoint_rescale(srdhm(x, one_minus), 4, 2))
    return fixedpoint_rescale(x, 1, 0)     # ExactMulByPot<-1> then Rescale<0>


def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    """gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1: Q0.31 -> Q0.31."""
    srdhm = saturating_rounding_doubling_high_mul
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = wrap_int32(1515870810 + srdhm(half_denominator, -1010580540))
    for _ in range(3):
        one_minus = wrap_int32((1 << 29) - srdhm(half_denominator, x))
        x = wrap_int32(x + fixedpoint_rescale(srdhm(x, one_minus), 4, 2))
    return fixedpoint_rescale(wrap_int32(x - (1 << 29)), 2, 0)


def fixedpoint_logistic(a, integer_bits: int):
    """gemmlowp logistic: FixedPoint<int32, integer_bits> -> Q0.31."""
    a = _i64(a)
    positive = a > 0
    abs_input = np.where(positive, a, -a)
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(-abs_input, integer_bits))
    if_negative = wrap_int32(INT32_MAX - if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def fixedpoint_tanh(a, integer_bits: int):
    """gemmlowp tanh: FixedPoint<int32, integer_bits> -> Q0.31."""
    a = _i64(a)
    negative = a < 0
    n = np.where(negative, a, -a)            # n <= 0
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, -t, t))


def get_reciprocal(x, x_integer_digits: int):
    """TFLM GetReciprocal: (Q0.31 raw of 1/x scaled into [0.5, 1), num_bits_over_unit)."""
    x = _i64(x)
    headroom_plus_one = count_leading_zeros_u32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap_int32(shifted - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def multiply_by_quantized_multiplier_greater_than_one(x, multiplier, left_shift):
    """TFLM MultiplyByQuantizedMultiplierGreaterThanOne (double rounding build)."""
    return saturating_rounding_doubling_high_mul(wrap_int32(_i64(x) << _i64(left_shift)), multiplier)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplierGreaterThanOne: real > 1 -> (multiplier, left_shift >= 0)."""
    if not real > 1.0:
        raise ValueError(f"multiplier {real} must be > 1")
    return quantize_multiplier(real)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int,
                           total_signed_bits: int = 31) -> int:
    """TFLM CalculateInputRadius (float build): largest |input| that cannot overflow."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1)
                          * float(1 << (total_signed_bits - input_integer_bits))
                          / float(1 << input_left_shift))
    return int(math.floor(max_input_rescaled))


def preprocess_softmax_scaling(beta: float, input_scale: float,
                               input_integer_bits: int) -> tuple[int, int]:
    """TFLM PreprocessSoftmaxScaling (double rounding build): (multiplier, left_shift)."""
    real = min(float(beta) * float(input_scale) * float(1 << (31 - input_integer_bits)),
               float((1 << 31) - 1))
    return quantize_multiplier_greater_than_one(real)


def round_half_away_f32(x):
    """C roundf on float32 values (exact, returned as float64)."""
    x = np.asarray(x, dtype=np.float32).astype(np.float64)
    t = np.trunc(x)
    return t + np.where(np.abs(x - t) >= 0.5, np.sign(x), 0.0)


def f32_bits(value: float) -> int:
    """The IEEE-754 float32 bit pattern of value, as a signed int32 (for int params)."""
    return int(np.array([value], dtype=np.float32).view(np.int32)[0])


def f32_from_bits(bits: int) -> np.float32:
    return np.array([bits], dtype=np.int64).astype(np.int32).view(np.float32)[0]


def _f32_parts(bits: int) -> tuple[int, int]:
    """Integer significand m and exponent e of a finite float32 bit pattern: value = m * 2^e."""
    bits &= 0xFFFFFFFF
    if bits >> 31 or (bits >> 23) & 0xFF == 0xFF:
        raise ValueError(f"scale bits {bits:#010x} are negative, infinite or NaN")
    e8, frac = (bits >> 23) & 0xFF, bits & 0x7FFFFF
    if e8 == 0:                                   # zero or subnormal
        return frac, -149
    return frac | 0x800000, e8 - 150


def multiplier_from_scale_bits(in_bits: int, filter_bits: int, out_bits: int) -> tuple[int, int]:
    """(multiplier, shift) for in_scale * filter_scale / out_scale, in integers only.

    The scales are float32 bit patterns. This is QuantizeMultiplier of the exact
    real value (one rounding, half up), the rebuild of docs/FORMAT.md ("scales"
    multipliers). TFLM first rounds the product to a double, so the two can
    differ in rare cases: the converter checks every channel against
    quantize_multiplier and stores the explicit multipliers when they do.
    """
    m_in, e_in = _f32_parts(in_bits)
    m_w, e_w = _f32_parts(filter_bits)
    d, e_out = _f32_parts(out_bits)
    if d == 0:
        raise ValueError("output scale is 0")
    n = m_in * m_w
    if n == 0:
        return 0, 0
    k = 31 - n.bit_length() + d.bit_length()      # then n * 2^k / d is in [2^29, 2^31]
    while True:                                   # settle 2^30 <= n * 2^k / d < 2^31
        a, b = (n << k, d) if k >= 0 else (n, d << -k)
        if a < b << 30:
            k += 1
        elif a >= b << 31:
            k -= 1
        else:
            break
    q = (2 * a + b) // (2 * b)                    # round half up
    if q == 1 << 31:
        q >>= 1
        k -= 1
    shift = 31 - k + e_in + e_w - e_out
    if shift < -31:
        return 0, 0
    return q, shift
