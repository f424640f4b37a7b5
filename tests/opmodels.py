"""Generator of small int8 .tflite models that exercise every op motes supports.

Used by the test suite to compare motes against TensorFlow Lite Micro on many
op configurations.  Each entry of ``SPECS`` is a function returning a small
``keras.Model`` (batch size 1, well under 50k parameters).  ``build()`` turns
it into a fully-int8 .tflite file (seeded weights, seeded calibration data)
and caches the result.

Importing this module is cheap: TensorFlow is imported lazily inside build().

Op coverage (checked by tests/host/test_opmodels.py; produced with TF 2.21, all
models run in the TFLM Python interpreter).  Model names in brackets.

FULLY_CONNECTED  with bias / without bias (use_bias=False), fused RELU / RELU6 /
                 none [fc_mlp]; 3-D input (Dense on [1,T,F] -> keep_num_dims=True)
                 [fc_seq]; input from Flatten/Concatenation [conv_rgb_odd, pool,
                 concat]; TF 2.21 quantizes Dense weights per output channel by
                 default (per-tensor with per_channel=False).
CONV_2D          kernels 1x1, 3x3, 5x3, 3x5, 2x2, 1x2; strides 1, 2, (2,1),
                 (1,2); padding same and valid; dilation 2 (same and valid) and
                 (1,2); odd (9x9, 7x7, 11x11) and even (16x12, 6x6) inputs; input
                 channels 1 [conv_gray_even], 3 [conv_rgb_odd], 8 [conv_c8];
                 fused RELU / RELU6 / none; with / without bias; grouped conv
                 groups=2 (3x3) and groups=4 (1x1) [conv_grouped]: TF 2.21 keeps
                 Conv2D(groups>1) as ONE CONV_2D whose filter is
                 [O, KH, KW, Cin/groups] (TFLM accepts it).
DEPTHWISE_CONV_2D depth_multiplier 1, 2 and 3 (3 on a 1-channel input)
                 [dwconv, dwconv_mult, dwconv_c1]; strides 1, 2, (1,2); same and
                 valid; dilation 2 (same and valid); kernels 3x3, 5x3, 2x2; fused
                 RELU / RELU6 / none; with / without bias.
AVERAGE_POOL_2D  pool 2x2 and 3x3; strides 1, 2, (1,2); same padding with
                 partial windows at the borders on odd (11x11, 3x3) and even
                 (4x5, 6x6) inputs; valid [pool, pool_even, const_ops].
MAX_POOL_2D      pool 2x2, 3x3, 3x2; strides 1, 2; same (partial windows) and
                 valid [pool, pool_even]; with a fused RELU6 (a ReLU6 layer after
                 MaxPooling2D is fused into the pool) [relu_standalone].
RESHAPE          Flatten (4-D -> 2-D, 3-D -> 2-D), Reshape layer (4-D -> 3-D)
                 [conv_gray_even], converter-inserted [1,1,1,C] -> [C] for a
                 broadcast ADD operand [add_mul].
SOFTMAX          on 2-D [1,N] and 4-D over channels [activations(_4d)],
                 output of a scalar MUL [softmax_scaled].  NOT PRODUCIBLE:
                 beta != 1 (TF 2.21 always writes beta=1.0; softmax(k*x) becomes
                 MUL(+SOFTMAX) or k is folded into the preceding weights).
LOGISTIC         sigmoid activation, 2-D and 4-D; gate of a squeeze-excite
                 block [activations(_4d), add_mul, requantize].
TANH             tanh activation, 2-D and 4-D [activations(_4d), requantize].
ADD              two branches with different input scales; broadcasting
                 [1,H,W,C]+[C] and [1,H,W,C]+[1,H,W,1]; fused RELU [add_mul];
                 constant operand of shape [C] and [1,H,W,1] [const_ops]; chained
                 adds with unfused standalone activations [relu_standalone].
MUL              elementwise product of two branches (different scales);
                 broadcasting [1,H,W,C]*[1,1,1,C] [add_mul]; x*x [concat];
                 constant [C] [const_ops]; 0-d (scalar) constant [softmax_scaled].
MEAN             axes (1,2) keepdims False (GlobalAveragePooling2D) and True,
                 axis 3 keepdims True, axis 1 keepdims False, axes (1,2,3)
                 keepdims True, last axis of a 2-D tensor keepdims True [mean,
                 add_mul]; input and output scales differ.
CONCATENATION    axis -1 (channels, 2 and 3 inputs), axis 1 (height), axis 2
                 (width), axis -1 of 2-D tensors (up to 6 inputs)
                 [concat, requantize, conv_c8, pool, mean].  NOT PRODUCIBLE:
                 inputs with scales different from the output -- the TF 2.21
                 quantizer gives every concat input the output's scale/zero
                 point, either by choosing the producers' output scale or by
                 inserting an int8->int8 QUANTIZE in front of the concat.
PAD              ZeroPadding2D symmetric (1) and asymmetric ((1,2),(0,3)) on
                 H/W, keras.ops.pad on the channel axis [pad].
RELU, RELU6      standalone: on the model input, on a tensor with two
                 consumers, after CONCATENATION, after MEAN, after ADD whose
                 output is used twice [relu_standalone]; output scale differs
                 from input scale.
QUANTIZE         int8->int8 requantize in front of CONCATENATION for inputs
                 with pinned scales (TANH 1/128, LOGISTIC and SOFTMAX 1/256)
                 [requantize]; float32->int8 at the input of *_floatio models.
DEQUANTIZE       int8->float32 at the output of *_floatio models
                 [fc_mlp_floatio, conv_rgb_odd_floatio, activations_floatio].

per_channel=False uses the private converter flag
``_experimental_disable_per_channel = True`` (still present in TF 2.21): all
CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED weights get a single scale
(checked with weight_scale_counts() in the tests).
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import inspect
import io
import os
import pathlib
import sys
import tempfile
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CALIB_SAMPLES = 64
SEED = 1234

# Bump when the conversion procedure changes in a way the hash cannot see.
_GENERATOR_VERSION = "1"


# --------------------------------------------------------------------------
# helpers used by the spec functions (they import keras lazily)
# --------------------------------------------------------------------------

def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # noqa: WPS433 (lazy on purpose)
    return keras


def _bias():
    """Non-zero bias initializer (zero biases get dropped by the converter)."""
    return _keras().initializers.RandomNormal(stddev=0.3)


def _L():
    return _keras().layers


# --------------------------------------------------------------------------
# model specs
# --------------------------------------------------------------------------

def _fc_mlp():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(20,), batch_size=1)
    x = L.Dense(16, activation="relu", bias_initializer=_bias())(i)
    x = L.Dense(12, activation="relu6", use_bias=False)(x)
    x = L.Dense(10, bias_initializer=_bias())(x)
    x = L.Dense(8, use_bias=False)(x)
    x = L.Dense(6, activation="relu", use_bias=False)(x)
    x = L.Dense(5, activation="relu6", bias_initializer=_bias())(x)
    return keras.Model(i, x)


def _fc_seq():
    # Dense applied to a rank-3 tensor: FULLY_CONNECTED with keep_num_dims.
    keras, L = _keras(), _L()
    i = keras.Input(shape=(4, 8), batch_size=1)
    x = L.Dense(6, activation="relu", bias_initializer=_bias())(i)
    x = L.Flatten()(x)
    x = L.Dense(7, bias_initializer=_bias())(x)
    return keras.Model(i, x)


def _fc_wide():
    # FULLY_CONNECTED with a group of 8 rows over 4 KB (600 inputs: 4,800 bytes)
    # beside a 24 KB input: interleaved under converter.group_limit (a quarter
    # of the arena), and a streaming device decodes that group whole
    keras, L = _keras(), _L()
    i = keras.Input(shape=(40, 600), batch_size=1)
    x = L.Dense(8, bias_initializer=_bias())(i)
    return keras.Model(i, x)


def _fc_two_heads():
    # two outputs (a classifier and a regressor on one trunk): net.output(k) on a board
    keras, L = _keras(), _L()
    i = keras.Input(shape=(16,), batch_size=1)
    h = L.Dense(12, activation="relu", bias_initializer=_bias())(i)
    a = L.Dense(3, activation="softmax", bias_initializer=_bias())(h)
    b = L.Dense(1, bias_initializer=_bias())(h)
    return keras.Model(i, [a, b])


def _conv_rgb_odd():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(9, 9, 3), batch_size=1)
    x = L.Conv2D(4, 1, activation="relu", bias_initializer=_bias())(i)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu6",
                 bias_initializer=_bias())(x)                      # 5x5
    x = L.Conv2D(6, (5, 3), padding="valid", bias_initializer=_bias())(x)  # 1x3
    x = L.Flatten()(x)
    x = L.Dense(4, bias_initializer=_bias())(x)
    return keras.Model(i, x)


def _conv_gray_even():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(16, 12, 1), batch_size=1)
    x = L.Conv2D(4, 3, strides=(2, 1), padding="same", activation="relu",
                 bias_initializer=_bias())(i)                       # 8x12
    x = L.Conv2D(6, 3, dilation_rate=2, padding="same",
                 bias_initializer=_bias())(x)                       # 8x12
    x = L.Conv2D(8, (5, 3), strides=2, padding="valid", activation="relu6",
                 bias_initializer=_bias())(x)                       # 2x5
    x = L.Conv2D(4, (1, 2), strides=(1, 2), padding="same", use_bias=False)(x)
    x = L.Reshape((2, 12))(x)
    return keras.Model(i, x)


def _conv_c8():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(7, 7, 8), batch_size=1)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="valid", activation="relu",
                 bias_initializer=_bias())(i)                       # 3x3
    y = L.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(i)   # 4x4
    y = L.Conv2D(8, (3, 5), dilation_rate=(1, 2), padding="same",
                 activation="relu6", bias_initializer=_bias())(y)   # 4x4
    y = L.Conv2D(6, 2, strides=1, padding="valid", bias_initializer=_bias())(y)  # 3x3
    x = L.Conv2D(6, 1, strides=1, bias_initializer=_bias())(x)
    z = L.Concatenate(axis=-1)([x, y])
    return keras.Model(i, z)


def _conv_grouped():
    # Grouped convolution.  TF 2.21 converts Conv2D(groups>1) to a single
    # CONV_2D whose filter is [O, KH, KW, Cin/groups].
    keras, L = _keras(), _L()
    i = keras.Input(shape=(6, 6, 8), batch_size=1)
    x = L.Conv2D(8, 3, groups=2, padding="same", activation="relu",
                 bias_initializer=_bias())(i)
    x = L.Conv2D(8, 1, groups=4, bias_initializer=_bias())(x)
    return keras.Model(i, x)


def _dwconv():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(10, 10, 4), batch_size=1)
    x = L.DepthwiseConv2D(3, padding="same", activation="relu",
                          bias_initializer=_bias())(i)              # 10x10x4
    x = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="valid",
                          bias_initializer=_bias())(x)              # 4x4x8
    x = L.DepthwiseConv2D(3, dilation_rate=2, padding="same",
                          activation="relu6", bias_initializer=_bias())(x)
    x = L.DepthwiseConv2D((5, 3), strides=(1, 2), padding="same",
                          use_bias=False)(x)                        # 4x2x8
    x = L.Conv2D(4, 1, bias_initializer=_bias())(x)
    return keras.Model(i, x)


def _dwconv_mult():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(9, 8, 3), batch_size=1)
    x = L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same",
                          activation="relu6", bias_initializer=_bias())(i)  # 5x4x6
    x = L.DepthwiseConv2D(2, dilation_rate=2, padding="valid",
                          bias_initializer=_bias())(x)              # 3x2x6
    return keras.Model(i, x)


def _dwconv_c1():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(7, 6, 1), batch_size=1)
    x = L.DepthwiseConv2D(3, depth_multiplier=3, padding="same",
                          bias_initializer=_bias())(i)              # 7x6x3
    x = L.DepthwiseConv2D(3, strides=2, padding="same", activation="relu",
                          bias_initializer=_bias())(x)              # 4x3x3
    return keras.Model(i, x)


def _pool():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(11, 11, 3), batch_size=1)
    x = L.Conv2D(4, 3, padding="same", bias_initializer=_bias())(i)
    a = L.MaxPooling2D(2, strides=2, padding="valid")(x)            # 5x5
    b = L.MaxPooling2D(3, strides=2, padding="same")(x)             # 6x6 partial
    c = L.AveragePooling2D(3, strides=1, padding="same")(x)         # 11x11 partial
    d = L.AveragePooling2D(2, strides=(1, 2), padding="valid")(x)   # 10x5
    e = L.AveragePooling2D(3, strides=2, padding="same")(c)         # 6x6 partial
    f = L.MaxPooling2D((3, 2), strides=1, padding="same")(a)        # 5x5
    g = L.AveragePooling2D(2, strides=2, padding="same")(b)         # 3x3 partial
    outs = [L.Flatten()(t) for t in (a, b, d, e, f, g)]
    y = L.Concatenate()(outs)
    y = L.Dense(6, bias_initializer=_bias())(y)
    return keras.Model(i, y)


def _pool_even():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(8, 10, 2), batch_size=1)
    x = L.MaxPooling2D(3, strides=2, padding="same")(i)             # 4x5
    x = L.AveragePooling2D(3, strides=1, padding="same")(x)         # 4x5
    x = L.MaxPooling2D(2, strides=1, padding="valid")(x)            # 3x4
    return keras.Model(i, x)


def _activations():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(12,), batch_size=1)
    x = L.Dense(16, activation="tanh", bias_initializer=_bias())(i)
    x = L.Dense(12, activation="sigmoid", bias_initializer=_bias())(x)
    x = L.Dense(10, bias_initializer=_bias())(x)
    x = L.Softmax()(x)
    return keras.Model(i, x)


def _activations_4d():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(5, 5, 3), batch_size=1)
    x = L.Conv2D(6, 3, padding="same", activation="tanh",
                 bias_initializer=_bias())(i)
    x = L.Conv2D(6, 1, activation="sigmoid", bias_initializer=_bias())(x)
    x = L.Conv2D(5, 1, bias_initializer=_bias())(x)
    x = L.Softmax(axis=-1)(x)
    return keras.Model(i, x)


def _softmax_scaled():
    # softmax(beta * x).  TF 2.21 never emits SOFTMAX with beta != 1 here: a
    # scalar multiply after a Dense/Conv is folded into the weights, and on any
    # other tensor it stays a MUL (by a scalar constant) + SOFTMAX(beta=1).
    # So this model covers MUL with a 0-d constant feeding SOFTMAX.
    keras, L = _keras(), _L()
    i = keras.Input(shape=(10,), batch_size=1)
    x = keras.ops.softmax(i * 2.5)
    return keras.Model(i, x)


def _add_mul():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(8, 8, 3), batch_size=1)
    a = L.Conv2D(4, 3, padding="same", bias_initializer=_bias())(i)
    b = L.Conv2D(4, 1, activation="relu6", bias_initializer=_bias())(i)
    s = L.Add()([a, b])                                 # different scales
    m = L.Multiply()([a, b])                            # elementwise
    g = L.GlobalAveragePooling2D(keepdims=True)(m)      # [1,1,1,4]
    t = keras.ops.add(s, g)                             # broadcast add
    u = keras.ops.multiply(m, L.Activation("sigmoid")(g))   # broadcast mul
    c = keras.ops.mean(s, axis=3, keepdims=True)        # [1,8,8,1]
    v = keras.ops.add(u, c)                             # broadcast over C
    w = L.Add()([t, v])
    w = L.ReLU()(w)                                     # fuses into ADD
    return keras.Model(i, w)


def _const_ops():
    # ADD / MUL with a constant operand, on tensors the converter cannot fold
    # the constant into (model input, max-pool output).
    keras, L = _keras(), _L()
    i = keras.Input(shape=(6, 6, 4), batch_size=1)
    x = keras.ops.add(i, np.array([0.5, -1.0, 2.0, 0.25], np.float32))
    x = L.MaxPooling2D(2)(x)
    x = keras.ops.multiply(x, np.array([1.5, -0.5, 0.75, 3.0], np.float32))
    x = L.AveragePooling2D(3, strides=1, padding="same")(x)
    x = keras.ops.add(x, np.full((1, 3, 3, 1), -0.45, np.float32))
    return keras.Model(i, x)


def _mean():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(6, 5, 4), batch_size=1)
    x = L.Conv2D(6, 3, padding="same", bias_initializer=_bias())(i)
    a = L.GlobalAveragePooling2D()(x)                        # [1,6]
    b = keras.ops.mean(x, axis=(1, 2), keepdims=True)        # [1,1,1,6]
    b = L.Flatten()(b)
    c = keras.ops.mean(x, axis=3, keepdims=True)             # [1,6,5,1]
    c = L.Flatten()(c)
    d = keras.ops.mean(x, axis=1)                            # [1,5,6]
    d = L.Flatten()(d)
    e = keras.ops.mean(x, axis=(1, 2, 3), keepdims=True)     # [1,1,1,1]
    e = L.Flatten()(e)
    f = keras.ops.mean(d, axis=-1, keepdims=True)            # [1,1]
    y = L.Concatenate()([a, b, c, d, e, f])
    return keras.Model(i, y)


def _concat():
    # The branches have different float ranges, but the TF 2.21 quantizer
    # makes all producers of a CONCATENATION share its output scale, so no
    # QUANTIZE appears here (see _requantize for that).
    keras, L = _keras(), _L()
    i = keras.Input(shape=(6, 6, 3), batch_size=1)
    a = L.Conv2D(4, 3, padding="same", bias_initializer=_bias())(i)
    b = L.Conv2D(2, 1, activation="relu6", bias_initializer=_bias())(i)
    c = L.Conv2D(3, 1, activation="relu", bias_initializer=_bias())(i)
    ch = L.Concatenate(axis=-1)([a, b, c])                   # [1,6,6,9]
    h = L.Concatenate(axis=1)([a, L.Conv2D(4, 1, bias_initializer=_bias())(a)])   # [1,12,6,4]
    w = L.Concatenate(axis=2)([a, keras.ops.multiply(a, a)])  # [1,6,12,4]
    y = L.Concatenate()([L.Flatten()(ch), L.Flatten()(h), L.Flatten()(w)])
    y = L.Dense(8, bias_initializer=_bias())(y)
    return keras.Model(i, y)


def _requantize():
    # CONCATENATION requires all inputs to share the output scale; when an
    # input's scale is pinned (TANH 1/128, LOGISTIC/SOFTMAX 1/256, the model
    # input, a tensor feeding two different concats) the converter inserts an
    # int8->int8 QUANTIZE in front of the concat.
    keras, L = _keras(), _L()
    i = keras.Input(shape=(4, 5, 3), batch_size=1)
    t = L.Activation("tanh")(i)
    g = L.Activation("sigmoid")(i)
    a = L.Concatenate(axis=-1)([t, g, i])                     # [1,4,5,9]
    c1 = L.Conv2D(3, 1, bias_initializer=_bias())(i)
    c2 = L.Conv2D(3, 3, padding="same", activation="relu",
                  bias_initializer=_bias())(i)
    c3 = L.Conv2D(3, 1, activation="relu6", bias_initializer=_bias())(c1)
    h = L.Concatenate(axis=1)([c1, c2])                       # [1,8,5,3]
    w = L.Concatenate(axis=2)([c2, c3])                       # [1,4,10,3]
    s = L.Softmax()(c3)
    v = L.Concatenate(axis=-1)([c1, s])                       # [1,4,5,6]
    y = L.Concatenate()([L.Flatten()(a), L.Flatten()(h), L.Flatten()(w),
                         L.Flatten()(v)])
    return keras.Model(i, y)


def _pad():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(5, 6, 3), batch_size=1)
    x = L.ZeroPadding2D(((1, 2), (0, 3)))(i)                  # [1,8,9,3]
    x = L.Conv2D(4, 3, padding="valid", bias_initializer=_bias())(x)  # 6x7
    x = L.ZeroPadding2D(1)(x)                                 # 8x9
    x = L.MaxPooling2D(2)(x)                                  # 4x4
    x = keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [1, 2]])    # channels 4->7
    return keras.Model(i, x)


def _relu_standalone():
    keras, L = _keras(), _L()
    i = keras.Input(shape=(6, 6, 3), batch_size=1)
    r = L.ReLU()(i)                                           # RELU on input
    x = L.Conv2D(4, 3, padding="same", bias_initializer=_bias())(r)
    y = L.ReLU(max_value=6.0)(x)                              # x has 2 uses
    z = L.ReLU()(x)
    s = L.Add()([x, y])
    t = L.Add()([s, z])                                       # ADD + fused RELU6?
    c = L.Concatenate()([t, L.Conv2D(2, 1, bias_initializer=_bias())(r)])
    c = L.ReLU()(c)                                           # not fused into concat
    m = L.MaxPooling2D(2)(c)
    m = L.ReLU(max_value=6.0)(m)                              # fused into MAX_POOL_2D
    g = keras.ops.mean(m, axis=(1, 2))
    g = L.ReLU()(g)                                           # after MEAN: standalone
    u = L.ReLU(max_value=6.0)(L.Flatten()(t))
    return keras.Model(i, L.Concatenate()([u, g]))


SPECS = {
    "fc_mlp": _fc_mlp,
    "fc_seq": _fc_seq,
    "fc_wide": _fc_wide,
    "fc_two_heads": _fc_two_heads,
    "conv_rgb_odd": _conv_rgb_odd,
    "conv_gray_even": _conv_gray_even,
    "conv_c8": _conv_c8,
    "conv_grouped": _conv_grouped,
    "dwconv": _dwconv,
    "dwconv_mult": _dwconv_mult,
    "dwconv_c1": _dwconv_c1,
    "pool": _pool,
    "pool_even": _pool_even,
    "activations": _activations,
    "activations_4d": _activations_4d,
    "softmax_scaled": _softmax_scaled,
    "add_mul": _add_mul,
    "const_ops": _const_ops,
    "mean": _mean,
    "concat": _concat,
    "requantize": _requantize,
    "pad": _pad,
    "relu_standalone": _relu_standalone,
    # float32 in / float32 out: QUANTIZE at the input, DEQUANTIZE at the output
    "fc_mlp_floatio": _fc_mlp,
    "conv_rgb_odd_floatio": _conv_rgb_odd,
    "activations_floatio": _activations,
}

FLOATIO_SUFFIX = "_floatio"


# --------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------

def _rep_dataset(model, seed):
    """Seeded representative data: normal noise with a per-sample scale and a
    per-feature offset so the calibrated ranges are non-trivial/asymmetric."""
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape) for t in model.inputs]
    samples = []
    for _ in range(CALIB_SAMPLES):
        sample = []
        for shp in shapes:
            shp = (1,) + shp[1:]
            base = rng.normal(0.0, 1.0, size=shp)
            scale = rng.uniform(0.5, 2.0)
            offset = rng.uniform(-0.5, 0.5, size=shp[-1:])
            sample.append((base * scale + offset).astype(np.float32))
        samples.append(sample)

    def gen():
        for s in samples:
            yield s
    return gen


def _convert(model, per_channel, float_io, seed):
    import tensorflow as tf
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = _rep_dataset(model, seed)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    if not per_channel:
        # Private flag of TFLiteConverterBase (TF 2.x, still in 2.21): makes
        # the MLIR quantizer use one scale per weight tensor for CONV_2D,
        # DEPTHWISE_CONV_2D and FULLY_CONNECTED.
        conv._experimental_disable_per_channel = True
    return conv.convert()


def _cache_key(name, per_channel):
    spec = SPECS[name]
    h = hashlib.sha256()
    for part in (
        _GENERATOR_VERSION,
        inspect.getsource(spec),
        inspect.getsource(_rep_dataset),
        inspect.getsource(_convert),
        inspect.getsource(_bias),
        repr(per_channel),
        repr(name.endswith(FLOATIO_SUFFIX)),
        repr((CALIB_SAMPLES, SEED)),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:10]


@contextlib.contextmanager
def _silenced_fds():
    """Send fd 1/2 (TF's C++ logging, converter chatter) to a temp file; the
    captured text is replayed on stderr if the block raises."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        ok = False
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                yield
            ok = True
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if not ok:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace")[-20000:])


def _quiet_build(spec, per_channel, float_io, seed):
    """Build the Keras model and convert it, with TF's chatter silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _silenced_fds(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import tensorflow as tf
        tf.get_logger().setLevel("ERROR")
        keras = _keras()
        keras.utils.set_random_seed(seed)
        model = spec()
        data = _convert(model, per_channel, float_io, seed)
        keras.backend.clear_session()
    return data


def build(name: str, cache_dir, per_channel: bool = True) -> pathlib.Path:
    """Build (or reuse from cache) the .tflite model ``name``.

    The file is ``cache_dir/<name>-<key>.tflite`` (``<name>-pt-<key>`` for
    per-tensor), where ``key`` hashes the spec function source, the conversion
    code and the flags, so a changed spec is rebuilt automatically.
    """
    if name not in SPECS:
        raise KeyError(f"unknown op model {name!r}; known: {sorted(SPECS)}")
    cache_dir = pathlib.Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tag = "" if per_channel else "-pt"
    path = cache_dir / f"{name}{tag}-{_cache_key(name, per_channel)}.tflite"
    if path.exists() and path.stat().st_size > 0:
        return path
    data = _quiet_build(SPECS[name], per_channel, name.endswith(FLOATIO_SUFFIX),
                        SEED)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def build_all(cache_dir, per_channel: bool = True) -> dict[str, pathlib.Path]:
    return {name: build(name, cache_dir, per_channel) for name in SPECS}


# --------------------------------------------------------------------------
# inspection
# --------------------------------------------------------------------------

_OPNAMES = None


def _opnames():
    global _OPNAMES
    if _OPNAMES is None:
        from tflite.BuiltinOperator import BuiltinOperator
        _OPNAMES = {v: k for k, v in vars(BuiltinOperator).items()
                    if not k.startswith("_") and isinstance(v, int)}
    return _OPNAMES


def _load(path):
    import tflite
    buf = pathlib.Path(path).read_bytes()
    return tflite.Model.GetRootAsModel(buf, 0)


def ops_in(path) -> collections.Counter:
    """Counter of builtin opcode names used by the operators of a .tflite."""
    model = _load(path)
    names = _opnames()
    codes = []
    for k in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(k)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        codes.append(names.get(code, f"UNKNOWN_{code}"))
    counter = collections.Counter()
    for s in range(model.SubgraphsLength()):
        g = model.Subgraphs(s)
        for o in range(g.OperatorsLength()):
            counter[codes[g.Operators(o).OpcodeIndex()]] += 1
    return counter


def weight_scale_counts(path) -> list[tuple[str, int]]:
    """(op name, number of scales of its weight tensor) for every CONV_2D,
    DEPTHWISE_CONV_2D and FULLY_CONNECTED: 1 means per-tensor."""
    model = _load(path)
    names = _opnames()
    out = []
    for s in range(model.SubgraphsLength()):
        g = model.Subgraphs(s)
        for o in range(g.OperatorsLength()):
            op = g.Operators(o)
            oc = model.OperatorCodes(op.OpcodeIndex())
            opname = names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()))
            if opname in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
                t = g.Tensors(op.Inputs(1))
                q = t.Quantization()
                out.append((opname, q.ScaleLength() if q is not None else 0))
    return out


def quantize_kinds(path) -> set[tuple[str, str]]:
    """{(input type, output type)} of the QUANTIZE ops in a .tflite, e.g.
    ("FLOAT32", "INT8") at a float input edge, ("INT8", "INT8") requantize."""
    from tflite.TensorType import TensorType
    tnames = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}
    model = _load(path)
    names = _opnames()
    kinds = set()
    for s in range(model.SubgraphsLength()):
        g = model.Subgraphs(s)
        for o in range(g.OperatorsLength()):
            op = g.Operators(o)
            oc = model.OperatorCodes(op.OpcodeIndex())
            if names.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())) == "QUANTIZE":
                kinds.add((tnames[g.Tensors(op.Inputs(0)).Type()],
                           tnames[g.Tensors(op.Outputs(0)).Type()]))
    return kinds


def num_inputs(path) -> int:
    """Number of inputs of the main subgraph."""
    return _load(path).Subgraphs(0).InputsLength()
