"""Spatial ops (CONV_2D, DEPTHWISE_CONV_2D, AVERAGE/MAX_POOL_2D, PAD/PADV2,
RESHAPE/SQUEEZE/EXPAND_DIMS) against TensorFlow Lite Micro, bit for bit.

Each case builds a tiny Keras model (seeded weights), converts it to int8
with TensorFlow's converter (seeded calibration), runs the motes reference
kernels and TFLM on >= 20 seeded int8 inputs and requires 0 mismatches.
Converted models are cached for the session (one conversion per case).
"""
from __future__ import annotations

import contextlib
import copy
import io
import os

import numpy as np
import pytest

from motes import ops
from motes.compiler.graph import ModelError
from motes.run.reference import prepare_graph, run_layers
from motes.compiler.tflite_reader import read_tflite
from tests.tflm import keras_to_int8, tflm_run

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

N_INPUTS = 20
CALIB = 24


# ---------------------------------------------------------------------------
# model building / running
# ---------------------------------------------------------------------------

def _keras():
    import keras
    return keras


def _bias():
    return _keras().initializers.RandomNormal(stddev=0.5)


def _calibration(shape, seed):
    """Normal noise with a per-sample scale and a per-channel offset (asymmetric ranges)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, size=(CALIB,) + tuple(shape))
    scale = rng.uniform(0.5, 3.0, size=(CALIB,) + (1,) * len(shape))
    offset = rng.uniform(-0.7, 0.7, size=tuple(shape[-1:]))
    return (base * scale + offset).astype(np.float32)


_CACHE: dict = {}


def convert(key, build, in_shape, per_channel=True, seed=0):
    """int8 .tflite bytes of `build(keras, input)`, converted once per session."""
    ck = (key, per_channel)
    if ck not in _CACHE:
        keras = _keras()
        import warnings
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras.utils.set_random_seed(1000 + seed)
            inp = keras.Input(shape=in_shape, batch_size=1)
            model = keras.Model(inp, build(keras, inp))
            _CACHE[ck] = keras_to_int8(model, _calibration(in_shape, seed), per_channel=per_channel)
            keras.backend.clear_session()
    return _CACHE[ck]


def random_inputs(shape, seed, n=N_INPUTS):
    rng = np.random.default_rng(seed)
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n - 2)]
    xs.append(np.full(shape, -128, np.int8))   # extremes: saturating paths
    xs.append(np.full(shape, 127, np.int8))
    return xs


def check_bitexact(tfl: bytes, expect_ops, seed=0):
    """Run motes and TFLM on N_INPUTS inputs; assert every output element matches."""
    g = read_tflite(tfl)
    present = {op.opcode for op in g.operators}
    missing = set(expect_ops) - present
    assert not missing, f"converter did not produce {missing}; model has {sorted(present)}"
    layers = prepare_graph(g)
    in_shape = g.tensors[g.inputs[0]].shape
    mismatches, total = 0, 0
    for x in random_inputs(in_shape, seed):
        want = tflm_run(tfl, [x])
        got = run_layers(g, layers, [x])
        assert len(want) == len(got)
        for w, o in zip(want, got):
            assert w.shape == o.shape and w.dtype == o.dtype
            mismatches += int(np.count_nonzero(w != o))
            total += w.size
    assert mismatches == 0, f"{mismatches} of {total} output values differ from TFLM"
    return g, layers


# ---------------------------------------------------------------------------
# CONV_2D
# ---------------------------------------------------------------------------

def _conv(filters, kernel, **kw):
    kw.setdefault("bias_initializer", _bias())
    return lambda k, x: k.layers.Conv2D(filters, kernel, **kw)(x)


CONV_CASES = {
    # id: (input HWC, layer)
    "k1_s1_relu":            ((8, 8, 3), _conv(4, 1, activation="relu")),
    "k3_s1_same_odd":        ((9, 9, 3), _conv(8, 3, padding="same")),
    "k3_s2_same_odd":        ((9, 9, 3), _conv(8, 3, strides=2, padding="same")),
    "k3_s2_same_even_oddpad": ((8, 8, 3), _conv(4, 3, strides=2, padding="same", activation="relu6")),
    "k3_s2_valid":           ((9, 8, 8), _conv(4, 3, strides=2, padding="valid")),
    "k5x3_s21_valid":        ((11, 7, 3), _conv(6, (5, 3), strides=(2, 1), padding="valid")),
    "k5x3_s21_same":         ((10, 7, 3), _conv(6, (5, 3), strides=(2, 1), padding="same", activation="relu")),
    "k3x5_s12_same":         ((7, 10, 8), _conv(4, (3, 5), strides=(1, 2), padding="same")),
    "k3_d2_same":            ((9, 9, 3), _conv(4, 3, dilation_rate=2, padding="same")),
    "k3_d2_valid_even":      ((10, 10, 8), _conv(4, 3, dilation_rate=2, padding="valid", activation="relu6")),
    "k3x2_d12_same":         ((7, 9, 3), _conv(4, (3, 2), dilation_rate=(1, 2), padding="same")),
    "c1_k3_s21_same":        ((16, 12, 1), _conv(4, 3, strides=(2, 1), padding="same", activation="relu")),
    "c1_k10x4_s2_same_kws":  ((25, 10, 1), _conv(8, (10, 4), strides=2, padding="same", activation="relu")),
    "k1_s2":                 ((9, 9, 8), _conv(8, 1, strides=2)),
    "k2_s2_same_even":       ((8, 6, 3), _conv(4, 2, strides=2, padding="same")),
    "no_bias":               ((7, 7, 3), _conv(5, 3, padding="same", use_bias=False)),
    "big_kernel_valid_1x1out": ((5, 5, 8), _conv(3, 5, padding="valid")),
    "groups2_k3_same":       ((6, 6, 8), _conv(8, 3, groups=2, padding="same", activation="relu")),
    "groups4_k1":            ((6, 6, 8), _conv(8, 1, groups=4)),
    "groups2_k3_s2_valid":   ((7, 7, 4), _conv(6, 3, groups=2, strides=2, padding="valid")),
}
PER_TENSOR_CONV = ["k1_s1_relu", "k3_s2_same_even_oddpad", "k5x3_s21_valid", "k3_d2_same", "groups2_k3_same"]


def _with_per_tensor(cases, per_tensor):
    return [pytest.param(c, True, id=c) for c in cases] + \
           [pytest.param(c, False, id=c + "-per_tensor") for c in per_tensor]


@pytest.mark.parametrize("case,per_channel", _with_per_tensor(CONV_CASES, PER_TENSOR_CONV))
def test_conv2d(case, per_channel):
    shape, layer = CONV_CASES[case]
    tfl = convert(("conv", case), layer, shape, per_channel)
    g = read_tflite(tfl)
    conv_ops = [op for op in g.operators if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    assert conv_ops, "no convolution in the converted model"
    for op in conv_ops:
        wt = g.tensors[op.inputs[1]]
        assert (len(wt.scale) > 1) == per_channel, (op.opcode, len(wt.scale))
    if case.startswith("groups"):
        # TF keeps grouped conv as one CONV_2D whose filter is shallower than the input
        op = conv_ops[0]
        assert op.opcode == "CONV_2D"
        assert g.tensors[op.inputs[1]].shape[3] < g.tensors[op.inputs[0]].shape[3]
    check_bitexact(tfl, [])


# ---------------------------------------------------------------------------
# DEPTHWISE_CONV_2D
# ---------------------------------------------------------------------------

def _dw(kernel, **kw):
    kw.setdefault("bias_initializer", _bias())
    return lambda k, x: k.layers.DepthwiseConv2D(kernel, **kw)(x)


DW_CASES = {
    "k3_s1_same_dm1_relu":   ((8, 8, 8), _dw(3, padding="same", activation="relu")),
    "k3_s2_same_dm2_odd":    ((9, 9, 3), _dw(3, strides=2, depth_multiplier=2, padding="same")),
    "k3_s2_same_even_oddpad": ((8, 8, 4), _dw(3, strides=2, padding="same", activation="relu6")),
    "c1_dm8_k3_s2_person":   ((12, 12, 1), _dw(3, strides=2, depth_multiplier=8, padding="same",
                                               activation="relu6")),
    "c1_dm8_k10x8_s2_speech": ((20, 16, 1), _dw((10, 8), strides=2, depth_multiplier=8, padding="same",
                                                activation="relu")),
    "k5x3_s12_valid":        ((9, 8, 4), _dw((5, 3), strides=(1, 2), padding="valid")),
    "k3_d2_same":            ((9, 9, 3), _dw(3, dilation_rate=2, padding="same")),
    "k3_d2_valid_dm2":       ((10, 9, 2), _dw(3, dilation_rate=2, depth_multiplier=2, padding="valid")),
    "dm3_c1_same":           ((7, 6, 1), _dw(3, depth_multiplier=3, padding="same")),
    "no_bias_s21":           ((8, 7, 3), _dw(3, strides=(2, 1), padding="same", use_bias=False)),
}
PER_TENSOR_DW = ["k3_s1_same_dm1_relu", "k3_s2_same_dm2_odd", "c1_dm8_k3_s2_person", "k3_d2_same"]


@pytest.mark.parametrize("case,per_channel", _with_per_tensor(DW_CASES, PER_TENSOR_DW))
def test_depthwise_conv2d(case, per_channel):
    shape, layer = DW_CASES[case]
    tfl = convert(("dw", case), layer, shape, per_channel)
    g, layers = check_bitexact(tfl, ["DEPTHWISE_CONV_2D"])
    dw = next(lay for lay in layers if lay.op == "DEPTHWISE_CONV_2D")
    assert dw.params["depth_multiplier"] == g.tensors[dw.outputs[0]].shape[3] // shape[2]
    if not per_channel:
        assert len(set(dw.consts["multiplier"].tolist())) == 1


# ---------------------------------------------------------------------------
# AVERAGE_POOL_2D / MAX_POOL_2D
# ---------------------------------------------------------------------------

def _pool(kind, size, **kw):
    def build(k, x):
        cls = k.layers.MaxPooling2D if kind == "max" else k.layers.AveragePooling2D
        return cls(size, **kw)(x)
    return build


def _pool_relu(kind, size, act, **kw):
    def build(k, x):
        cls = k.layers.MaxPooling2D if kind == "max" else k.layers.AveragePooling2D
        return k.layers.ReLU(max_value=6.0 if act == "relu6" else None)(cls(size, **kw)(x))
    return build


POOL_CASES = {
    "max_2x2_s2_valid":          ((8, 8, 3), _pool("max", 2, strides=2, padding="valid")),
    "max_3x3_s2_same_odd":       ((9, 9, 3), _pool("max", 3, strides=2, padding="same")),
    "max_3x3_s2_same_even":      ((8, 10, 2), _pool("max", 3, strides=2, padding="same")),
    "max_3x2_s1_same":           ((5, 5, 4), _pool("max", (3, 2), strides=1, padding="same")),
    "max_2x2_s1_valid":          ((4, 5, 2), _pool("max", 2, strides=1, padding="valid")),
    "avg_2x2_s2_valid":          ((8, 8, 3), _pool("avg", 2, strides=2, padding="valid")),
    "avg_2x2_s12_valid":         ((11, 11, 3), _pool("avg", 2, strides=(1, 2), padding="valid")),
    "avg_3x3_s1_same_partial":   ((7, 7, 3), _pool("avg", 3, strides=1, padding="same")),
    "avg_3x3_s2_same_even":      ((8, 8, 4), _pool("avg", 3, strides=2, padding="same")),
    "avg_3x3_s2_same_odd":       ((11, 11, 3), _pool("avg", 3, strides=2, padding="same")),
    "avg_3x3_s21_same":          ((9, 6, 2), _pool("avg", 3, strides=(2, 1), padding="same")),
    "avg_2x2_s2_same_odd":       ((5, 7, 3), _pool("avg", 2, strides=2, padding="same")),
    "avg_5x4_s1_same":           ((6, 5, 2), _pool("avg", (5, 4), strides=1, padding="same")),
    "avg_global_valid":          ((5, 5, 8), _pool("avg", 5, strides=5, padding="valid")),
    "avg_3x3_s2_relu":           ((9, 9, 3), _pool_relu("avg", 3, "relu", strides=2, padding="same")),
    "max_2x2_relu6":             ((8, 8, 3), _pool_relu("max", 2, "relu6", strides=2, padding="valid")),
}


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_pool2d(case):
    shape, layer = POOL_CASES[case]
    tfl = convert(("pool", case), layer, shape)
    want = "MAX_POOL_2D" if case.startswith("max") else "AVERAGE_POOL_2D"
    check_bitexact(tfl, [want])


# ---------------------------------------------------------------------------
# PAD / PADV2
# ---------------------------------------------------------------------------

def _zeropad(p):
    return lambda k, x: k.layers.ZeroPadding2D(p)(x)


def _opspad(p, value=0.0):
    return lambda k, x: k.ops.pad(x, p, constant_values=value)


PAD_CASES = {
    "zeropad_asym":     ((5, 6, 3), _zeropad(((1, 2), (0, 3))), "PAD"),
    "zeropad_sym":      ((4, 4, 2), _zeropad(1), "PAD"),
    "pad_channels":     ((4, 4, 4), _opspad([[0, 0], [0, 0], [0, 0], [1, 2]]), "PAD"),
    "pad_rank3":        ((6, 4), _opspad([[0, 0], [2, 1], [0, 1]]), "PAD"),
    "pad_rank2":        ((7,), _opspad([[0, 0], [3, 2]]), "PAD"),
    "pad_rank5":        ((2, 3, 2, 2), _opspad([[0, 0], [1, 0], [0, 2], [1, 1], [0, 1]]), "PAD"),
    "padv2_value":      ((4, 5, 3), _opspad([[0, 0], [1, 1], [2, 0], [0, 0]], value=0.75), "PADV2"),
    "pad_then_conv":    ((5, 6, 3), lambda k, x: k.layers.Conv2D(
        4, 3, padding="valid", bias_initializer=_bias())(k.layers.ZeroPadding2D(((1, 2), (0, 3)))(x)), "PAD"),
}


@pytest.mark.parametrize("case", list(PAD_CASES))
def test_pad(case):
    shape, layer, want = PAD_CASES[case]
    tfl = convert(("pad", case), layer, shape)
    g, layers = check_bitexact(tfl, [want])
    pad = next(lay for lay in layers if lay.op == want)
    assert len(pad.params["pad_before"]) == len(g.tensors[pad.inputs[0]].shape)


# ---------------------------------------------------------------------------
# RESHAPE / SQUEEZE / EXPAND_DIMS
# ---------------------------------------------------------------------------

RESHAPE_CASES = {
    "flatten":        ((4, 4, 3), lambda k, x: k.layers.Flatten()(x), "RESHAPE"),
    "reshape_4d_3d":  ((4, 6, 2), lambda k, x: k.layers.Reshape((2, 24))(x), "RESHAPE"),
    "reshape_2d_4d":  ((24,), lambda k, x: k.layers.Reshape((2, 3, 4))(x), "RESHAPE"),
    "squeeze":        ((1, 5, 3), lambda k, x: k.ops.squeeze(x, axis=1), None),
    "expand_dims":    ((5, 3), lambda k, x: k.ops.expand_dims(x, 2), None),
    # a reshape between two convs (its int8 data passes through unchanged)
    "conv_reshape_conv": ((6, 6, 2), lambda k, x: k.layers.Conv2D(4, 1, bias_initializer=_bias())(
        k.layers.Reshape((12, 3, 4))(k.layers.Conv2D(4, 1, bias_initializer=_bias())(x))), "RESHAPE"),
}


@pytest.mark.parametrize("case", list(RESHAPE_CASES))
def test_reshape(case):
    shape, layer, want = RESHAPE_CASES[case]
    tfl = convert(("reshape", case), layer, shape)
    g = read_tflite(tfl)
    present = {op.opcode for op in g.operators}
    assert present & {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}, sorted(present)
    check_bitexact(tfl, [want] if want else [])


@pytest.mark.parametrize("opcode", ["SQUEEZE", "EXPAND_DIMS"])
def test_squeeze_expand_dims_opcodes(opcode):
    # TF 2.21 lowers keras squeeze/expand_dims to RESHAPE; older converters emit
    # SQUEEZE / EXPAND_DIMS (same data, shape from the output tensor): rename and rerun.
    name = "squeeze" if opcode == "SQUEEZE" else "expand_dims"
    shape, layer, _ = RESHAPE_CASES[name]
    tfl = convert(("reshape", name), layer, shape)
    g = read_tflite(tfl)
    op = _op(g, "RESHAPE")
    op.opcode, op.inputs = opcode, op.inputs[:1]
    layers = prepare_graph(g)
    assert layers[0].op == opcode
    for x in random_inputs(g.tensors[g.inputs[0]].shape, seed=5, n=3):
        assert np.array_equal(run_layers(g, layers, [x])[0], tflm_run(tfl, [x])[0])


def test_reshape_is_alias():
    mod = ops.module_for("RESHAPE")
    assert getattr(mod, "ALIAS", False) is True
    assert ops.module_for("SQUEEZE") is mod and ops.module_for("EXPAND_DIMS") is mod


# ---------------------------------------------------------------------------
# batches > 1 (TFLM kernels loop over the batch; the converter only makes batch 1)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind,case", [("conv", "k3_s2_same_even_oddpad"), ("conv", "groups2_k3_same"),
                                       ("dw", "c1_dm8_k3_s2_person"), ("pool", "avg_3x3_s1_same_partial"),
                                       ("pool", "max_3x3_s2_same_even")])
def test_batch_evaluate(kind, case):
    cases = {"conv": CONV_CASES, "dw": DW_CASES, "pool": POOL_CASES}[kind]
    shape, layer = cases[case]
    tfl = convert((kind, case), layer, shape)
    g = read_tflite(tfl)
    layers = prepare_graph(g)
    lay = next(lay for lay in layers if lay.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D",
                                                   "MAX_POOL_2D"))
    assert g.operators[lay.source].inputs[0] == g.inputs[0] and lay.outputs[0] == g.outputs[0]
    xs = random_inputs(g.tensors[g.inputs[0]].shape, seed=7, n=3)
    want = np.concatenate([tflm_run(tfl, [x])[0] for x in xs])
    out = np.zeros((3,) + tuple(g.tensors[lay.outputs[0]].shape[1:]), np.int8)
    ops.evaluate_layer(lay, [np.concatenate(xs)], [out])
    assert np.array_equal(out, want)


# ---------------------------------------------------------------------------
# padding arithmetic (TFLM ComputePaddingHeightWidth)
# ---------------------------------------------------------------------------

def test_padding_arithmetic():
    from motes.ops.conv import leading_pad, out_size
    from motes.quant import PADDING_SAME, PADDING_VALID
    assert out_size(PADDING_SAME, 8, 3, 2) == 4 and leading_pad(2, 1, 8, 3, 4) == 0   # total 1: all at the end
    assert out_size(PADDING_SAME, 9, 3, 2) == 5 and leading_pad(2, 1, 9, 3, 5) == 1   # total 2
    assert out_size(PADDING_SAME, 9, 3, 1, 2) == 9 and leading_pad(1, 2, 9, 3, 9) == 2
    assert out_size(PADDING_VALID, 10, 3, 1, 2) == 6 and leading_pad(1, 2, 10, 3, 6) == 0
    assert out_size(PADDING_SAME, 6, 4, 1) == 6 and leading_pad(1, 1, 6, 4, 6) == 1   # total 3: 1 before, 2 after
    assert out_size(PADDING_VALID, 3, 3, 2) == 1 and leading_pad(2, 1, 3, 3, 1) == 0


# ---------------------------------------------------------------------------
# bad models give ModelError with a clear message
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def conv_graph():
    shape, layer = CONV_CASES["k3_s1_same_odd"]
    return read_tflite(convert(("conv", "k3_s1_same_odd"), layer, shape))


@pytest.fixture(scope="module")
def dw_graph():
    shape, layer = DW_CASES["k3_s2_same_dm2_odd"]
    return read_tflite(convert(("dw", "k3_s2_same_dm2_odd"), layer, shape))


@pytest.fixture(scope="module")
def pool_graph():
    shape, layer = POOL_CASES["avg_3x3_s2_same_even"]
    return read_tflite(convert(("pool", "avg_3x3_s2_same_even"), layer, shape))


def _op(g, opcode):
    return next(op for op in g.operators if op.opcode == opcode)


def _prepare_error(g, op):
    with pytest.raises(ModelError) as e:
        ops.prepare_layer(op, g)
    msg = str(e.value)
    assert f"{op.opcode} #{op.index}" in msg, msg
    return msg


def test_conv_nonconstant_filter(conv_graph):
    g = copy.deepcopy(conv_graph)
    op = _op(g, "CONV_2D")
    g.tensors[op.inputs[1]].data = None
    assert "constant" in _prepare_error(g, op)


def test_conv_float_tensors():
    import tensorflow as tf
    keras = _keras()
    with contextlib.redirect_stdout(io.StringIO()):
        keras.utils.set_random_seed(3)
        i = keras.Input(shape=(6, 6, 2), batch_size=1)
        m = keras.Model(i, keras.layers.Conv2D(3, 3)(i))
        tfl = tf.lite.TFLiteConverter.from_keras_model(m).convert()   # float32 model
        keras.backend.clear_session()
    g = read_tflite(tfl)
    op = _op(g, "CONV_2D")
    msg = _prepare_error(g, op)
    assert "float32" in msg and "int8" in msg


def test_conv_filter_depth_not_dividing_input(conv_graph):
    g = copy.deepcopy(conv_graph)
    op = _op(g, "CONV_2D")
    w = g.tensors[op.inputs[1]]
    w.data = w.data[..., :2].copy()     # input depth 3, filter depth 2
    w.shape = w.data.shape
    assert "multiple of the filter depth" in _prepare_error(g, op)


def test_conv_nonzero_filter_zero_point(conv_graph):
    g = copy.deepcopy(conv_graph)
    op = _op(g, "CONV_2D")
    w = g.tensors[op.inputs[1]]
    w.zero_point = np.full_like(w.zero_point, 3)
    assert "zero point" in _prepare_error(g, op)


def test_conv_inconsistent_output_shape(conv_graph):
    g = copy.deepcopy(conv_graph)
    op = _op(g, "CONV_2D")
    y = g.tensors[op.outputs[0]]
    y.shape = (1, y.shape[1] - 1, y.shape[2], y.shape[3])
    assert "inconsistent" in _prepare_error(g, op)


def test_conv_float_bias(conv_graph):
    g = copy.deepcopy(conv_graph)
    op = _op(g, "CONV_2D")
    g.tensors[op.inputs[2]].dtype = "float32"
    assert "int32 bias" in _prepare_error(g, op)


def test_depthwise_bad_multiplier(dw_graph):
    g = copy.deepcopy(dw_graph)
    op = _op(g, "DEPTHWISE_CONV_2D")
    op.options["depth_multiplier"] = 1
    assert "depth_multiplier" in _prepare_error(g, op)


def test_depthwise_per_channel_scale_count(dw_graph):
    g = copy.deepcopy(dw_graph)
    op = _op(g, "DEPTHWISE_CONV_2D")
    w = g.tensors[op.inputs[1]]
    w.scale, w.zero_point = w.scale[:2], w.zero_point[:2]
    assert "scales" in _prepare_error(g, op)


def test_pool_quantization_mismatch(pool_graph):
    g = copy.deepcopy(pool_graph)
    op = _op(g, "AVERAGE_POOL_2D")
    g.tensors[op.outputs[0]].scale = g.tensors[op.outputs[0]].scale * 2
    assert "quantization differ" in _prepare_error(g, op)


def test_pool_int16_input(pool_graph):
    g = copy.deepcopy(pool_graph)
    op = _op(g, "AVERAGE_POOL_2D")
    g.tensors[op.inputs[0]].dtype = "int16"
    assert "int16" in _prepare_error(g, op)


def test_pad_nonconstant_paddings():
    shape, layer, _ = PAD_CASES["zeropad_asym"]
    g = read_tflite(convert(("pad", "zeropad_asym"), layer, shape))
    op = _op(g, "PAD")
    g.tensors[op.inputs[1]].data = None
    assert "paddings" in _prepare_error(g, op)
    g = read_tflite(convert(("pad", "zeropad_asym"), layer, shape))
    op = _op(g, "PAD")
    y = g.tensors[op.outputs[0]]
    y.shape = (1, y.shape[1] + 1) + tuple(y.shape[2:])
    assert "padded by" in _prepare_error(g, op)


def test_padv2_constant_quantization():
    shape, layer, _ = PAD_CASES["padv2_value"]
    g = read_tflite(convert(("pad", "padv2_value"), layer, shape))
    op = _op(g, "PADV2")
    ct = g.tensors[op.inputs[2]]
    ct.zero_point = ct.zero_point + 1
    assert "constant_values" in _prepare_error(g, op)


def test_reshape_quantization_mismatch():
    shape, layer, _ = RESHAPE_CASES["flatten"]
    g = read_tflite(convert(("reshape", "flatten"), layer, shape))
    op = _op(g, "RESHAPE")
    y = g.tensors[op.outputs[0]]
    y.zero_point = y.zero_point + 1
    assert "quantization" in _prepare_error(g, op)
    y.zero_point = y.zero_point - 1
    y.shape = (1, y.shape[1] + 1)
    assert "elements" in _prepare_error(g, op)


# ---------------------------------------------------------------------------
# TRANSPOSE_CONV (Keras Conv2DTranspose)
# ---------------------------------------------------------------------------

def _tconv(filters, kernel, strides, padding, **kw):
    return lambda k, x: k.layers.Conv2DTranspose(filters, kernel, strides=strides, padding=padding,
                                                 bias_initializer=_bias(), **kw)(x)


TCONV_CASES = {
    "tconv_3x3_s2_valid":  ((4, 4, 2), _tconv(3, 3, 2, "valid")),
    "tconv_3x3_s2_same":   ((4, 5, 3), _tconv(4, 3, 2, "same")),
    "tconv_2x2_s2_same":   ((3, 3, 4), _tconv(2, 2, 2, "same")),
    "tconv_4x4_s2_same":   ((3, 4, 2), _tconv(3, 4, 2, "same")),
    "tconv_3x3_s1_same":   ((5, 5, 2), _tconv(3, 3, 1, "same", activation="relu")),
    "tconv_5x3_s12_valid": ((3, 4, 2), _tconv(2, (5, 3), (1, 2), "valid")),
    "tconv_no_bias":       ((4, 4, 3), lambda k, x: k.layers.Conv2DTranspose(2, 3, strides=2, use_bias=False)(x)),
    "tconv_decoder":       ((8,), lambda k, x: k.layers.Conv2DTranspose(1, 3, strides=2, padding="same")(
        k.layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(
            k.layers.Reshape((2, 2, 2))(k.layers.Dense(8)(x))))),
}


@pytest.mark.parametrize("case", list(TCONV_CASES))
@pytest.mark.parametrize("per_channel", [True, False])
def test_transpose_conv(case, per_channel):
    shape, layer = TCONV_CASES[case]
    check_bitexact(convert(("tconv", case), layer, shape, per_channel=per_channel), ["TRANSPOSE_CONV"])


def test_transpose_conv_verify_refuses_constants_that_do_not_fit():
    from motes.compiler.converter import convert_graph
    from motes.mote.container import FormatError
    from motes.mote.verify import verify
    shape, layer = TCONV_CASES["tconv_3x3_s2_valid"]
    model = convert_graph(read_tflite(convert(("tconv", "tconv_3x3_s2_valid"), layer, shape)))
    verify(model)
    i = next(k for k, L in enumerate(model.layers) if L.op == "TRANSPOSE_CONV")
    good = model.packed[i]
    import dataclasses
    for bad in ({**good, "bias": dataclasses.replace(good["bias"], shape=(1,))},   # 1 bias, 3 channels
                {**good, "weights": dataclasses.replace(good["weights"], shape=(3, 3, 3, 1))},
                {k: v for k, v in good.items() if k != "shift"}):
        model.packed[i] = bad
        with pytest.raises(FormatError, match="shapes do not fit"):
            verify(model)


# ---------------------------------------------------------------------------
# real models: every tensor produced by these ops equals TFLM's
# ---------------------------------------------------------------------------

SPATIAL_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D", "PAD", "PADV2",
               "RESHAPE", "SQUEEZE", "EXPAND_DIMS"}


@pytest.mark.parametrize("name", ["person_detect", "mlperf_tiny_kws_ref_model", "micro_speech_quantized"])
def test_real_model_intermediates(name):
    """Compare every intermediate tensor up to the first op motes lacks (e.g. SOFTMAX while it is written)."""
    from conftest import shared_model
    from tflite_micro import runtime
    path = shared_model(name)
    g = read_tflite(path)
    layers = []
    for op in g.operators:
        if op.opcode not in ops.OPS:
            break
        layers.append(ops.prepare_layer(op, g))
    assert {lay.op for lay in layers} & SPATIAL_OPS
    it = runtime.Interpreter.from_file(str(path),
                                       intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    n = 5 if name == "person_detect" else 10
    bad = 0
    for x in random_inputs(g.tensors[g.inputs[0]].shape, seed=11, n=n):
        it.set_input(x, 0)
        it.invoke()
        vals = {g.inputs[0]: x}
        for lay in layers:
            outs = [np.zeros(g.tensors[i].shape, g.tensors[i].dtype) for i in lay.outputs]
            ops.evaluate_layer(lay, [vals[i] for i in lay.inputs], outs)
            vals.update(zip(lay.outputs, outs))
            for i, o in zip(lay.outputs, outs):
                ref = it.GetTensor(i, 0)["tensor_data"].reshape(o.shape)
                bad += int(np.count_nonzero(ref != o))
    assert bad == 0
    if name == "person_detect":   # the numpy kernels must stay fast: well under 1 s per inference
        import time
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            vals = {g.inputs[0]: x}
            for lay in layers:
                outs = [np.zeros(g.tensors[i].shape, g.tensors[i].dtype) for i in lay.outputs]
                ops.evaluate_layer(lay, [vals[i] for i in lay.inputs], outs)
                vals.update(zip(lay.outputs, outs))
            times.append(time.perf_counter() - t0)
        assert min(times) < 0.5, times
