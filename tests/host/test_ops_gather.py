"""Ops that move or pick int8 values without arithmetic, against TensorFlow Lite
Micro bit for bit: STRIDED_SLICE, SLICE, TRANSPOSE, SPLIT, SPLIT_V, UNPACK, PACK
(ops/gather.py), REDUCE_MAX (ops/reduce_max.py), MAXIMUM and MINIMUM
(ops/minmax.py). Keras makes them from slicing and Cropping, Permute, recurrent
layers unrolled by the converter, GlobalMaxPooling, ReLU(max_value) and the
Maximum / Minimum layers. Each case: a tiny Keras model converted to int8, the
motes reference and TFLM on 20 seeded inputs, 0 mismatches. Then the checks
that refuse what TFLM would run wrongly or a damaged file would break."""
from __future__ import annotations

import copy
import pathlib

import numpy as np
import pytest

from motes import mote as mote_format
from motes.compiler.converter import convert_graph
from motes.compiler.graph import ModelError
from motes.compiler.tflite_reader import read_tflite
from motes.mote.container import FormatError
from motes.mote.verify import verify
from motes.run.reference import prepare_graph
from tests.host.test_ops_spatial import check_bitexact, convert


def _dense(k, x, n):
    return k.layers.Dense(n, bias_initializer=k.initializers.RandomNormal(stddev=0.5))(x)


CASES = {
    # STRIDED_SLICE: begin / end masks, a step, a negative step, a shrunk axis, cropping
    "slice_range":      ((8,), lambda k, x: x[:, 2:6], "STRIDED_SLICE"),
    "slice_step":       ((12, 3), lambda k, x: x[:, 1:11:3, :], "STRIDED_SLICE"),
    "slice_reverse":    ((6, 4), lambda k, x: x[:, ::-2, 1:], "STRIDED_SLICE"),
    "slice_negative":   ((9, 5), lambda k, x: x[:, -7:-1, -3:], "STRIDED_SLICE"),
    "slice_shrink":     ((4, 6, 3), lambda k, x: x[:, 2, :, 1], "STRIDED_SLICE"),
    "cropping1d":       ((16, 3), lambda k, x: k.layers.Cropping1D((2, 3))(x), "STRIDED_SLICE"),
    "cropping2d":       ((7, 8, 2), lambda k, x: k.layers.Cropping2D(((1, 2), (3, 0)))(x), "STRIDED_SLICE"),
    # SLICE (tf.slice: begin and size)
    "slice_op":         ((6, 5, 3), lambda k, x: k.ops.slice(x, (0, 1, 2, 0), (1, 4, 3, 2)), "SLICE"),
    # TRANSPOSE: Keras' Permute, 3-D and 4-D
    "permute_3d":       ((4, 6), lambda k, x: k.layers.Permute((2, 1))(x), "TRANSPOSE"),
    "permute_4d":       ((3, 4, 5), lambda k, x: k.layers.Permute((3, 1, 2))(x), "TRANSPOSE"),
    # SPLIT / SPLIT_V: equal and unequal parts, each part used
    "split":            ((6, 4), lambda k, x: k.layers.Concatenate()(
        [_dense(k, p, 2) for p in k.ops.split(x, 3, axis=1)]), "SPLIT"),
    "split_v":          ((7, 4), lambda k, x: k.layers.Concatenate(axis=1)(
        [k.layers.Flatten()(p) for p in k.ops.split(x, [2, 6], axis=1)]), "SPLIT_V"),
    # UNPACK / PACK: a SimpleRNN unrolled (UNPACK), a stack of two branches (PACK)
    "unpack_rnn":       ((6, 3), lambda k, x: _dense(k, k.layers.SimpleRNN(4, unroll=True)(x), 2), "UNPACK"),
    "pack":             ((5,), lambda k, x: k.layers.Flatten()(k.ops.stack([x, x[:, ::-1]], axis=1)), "PACK"),
    "unstack_axis2":    ((3, 4), lambda k, x: k.layers.Concatenate()(k.ops.unstack(x, axis=2)[::-1]), "UNPACK"),
    # REDUCE_MAX: GlobalMaxPooling1D / 2D, keepdims, several axes
    "gmaxpool1d":       ((20, 3), lambda k, x: k.layers.GlobalMaxPooling1D()(
        k.layers.Conv1D(6, 3, activation="relu")(x)), "REDUCE_MAX"),
    "gmaxpool2d":       ((6, 6, 3), lambda k, x: k.layers.GlobalMaxPooling2D()(k.layers.Conv2D(5, 3)(x)), "REDUCE_MAX"),
    "max_keepdims":     ((4, 5, 3), lambda k, x: k.ops.max(x, axis=(1, 3), keepdims=True), "REDUCE_MAX"),
    "max_last":         ((4, 7), lambda k, x: k.ops.max(x, axis=-1), "REDUCE_MAX"),
    # MAXIMUM / MINIMUM: two branches, broadcasting, a clip constant
    "maximum":          ((8,), lambda k, x: k.layers.Maximum()([_dense(k, x, 4), _dense(k, x, 4)]), "MAXIMUM"),
    "minimum":          ((8,), lambda k, x: k.layers.Minimum()([_dense(k, x, 4), _dense(k, x, 4)]), "MINIMUM"),
    "relu_max_value":   ((8,), lambda k, x: k.layers.ReLU(max_value=1.5)(_dense(k, x, 6)), "MINIMUM"),
    "maximum_bcast":    ((3, 4), lambda k, x: k.ops.maximum(x, k.ops.mean(x, axis=2, keepdims=True)), "MAXIMUM"),
    # recurrent layers unrolled by the converter: UNPACK, SPLIT, STRIDED_SLICE, PACK; an LSTM's
    # first SPLIT is left in float32 (DEQUANTIZE -> SPLIT -> QUANTIZE), which motes runs on int8
    "gru":              ((6, 3), lambda k, x: _dense(k, k.layers.GRU(4, unroll=True)(x), 2), "SPLIT"),
    "lstm":             ((6, 3), lambda k, x: _dense(k, k.layers.LSTM(4, unroll=True)(x), 2), "SPLIT"),
    "lstm_sequences":   ((5, 2), lambda k, x: k.layers.Flatten()(
        k.layers.LSTM(3, unroll=True, return_sequences=True)(x)), "PACK"),
    "minimum_const":    ((3, 4), lambda k, x: k.ops.minimum(x, np.array([0.5, -0.2, 1.0, 0.0], np.float32)),
                         "MINIMUM"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bitexact_with_tflm(case):
    shape, build, want = CASES[case]
    check_bitexact(convert(("gather", case), build, shape), [want])


ISLAND = pathlib.Path(__file__).parents[1] / "data" / "float_island" / "lstm_island.tflite"


def test_lstm_float_island_runs_on_int8():
    # an LSTM whose conversion left DEQUANTIZE -> SPLIT (float32) -> QUANTIZE (made once by
    # tests/data/float_island/make.py: whether the converter leaves one depends on its
    # version and state). motes runs the SPLIT on int8 and QUANTIZEs through float32
    # (mode 3): no DEQUANTIZE and no float32 tensor left inside, and the results TFLM's
    tfl = ISLAND.read_bytes()
    g = read_tflite(tfl)
    assert [op.opcode for op in g.operators].count("DEQUANTIZE") == 1
    layers = prepare_graph(g)
    assert not any(L.op == "DEQUANTIZE" for L in layers)
    assert any(L.op == "QUANTIZE" and L.params["mode"] == 3 for L in layers)
    assert all(g.tensors[t].dtype == "int8" for L in layers for t in L.inputs + L.outputs)
    check_bitexact(tfl, ["DEQUANTIZE", "QUANTIZE"])


def _graph(case):
    shape, build, want = CASES[case]
    g = read_tflite(convert(("gather", case), build, shape))
    return g, next(op for op in g.operators if op.opcode == want)


def test_params_are_the_copy_the_board_makes():
    # a reversed, stepped slice: offsets and steps as element positions of the input
    g, op = _graph("slice_reverse")
    (layer,) = [L for L in prepare_graph(g) if L.op == "STRIDED_SLICE"]
    # input [1, 6, 4]: rows 5, 3, 1, columns 1..3 -> first element 5 * 4 + 1, steps -8 (two rows back), 1
    assert layer.params == {"offsets": [21], "steps": [0, -8, 1]}


@pytest.mark.parametrize("case", ["permute_3d", "gmaxpool2d", "maximum", "split"])
def test_refuses_other_quantization(case):
    # TFLM copies or compares the raw int8 values: with another output scale they
    # would mean other numbers; motes names the op and the fix
    g, op = _graph(case)
    g = copy.deepcopy(g)
    y = g.tensors[op.outputs[0]]
    y.scale = np.asarray(y.scale) * 2
    with pytest.raises(ModelError, match=r"quantization differ.*Convert the model again"):
        prepare_graph(g)


def test_strided_slice_masks_it_cannot_run():
    g, op = _graph("slice_range")
    g = copy.deepcopy(g)
    op = next(o for o in g.operators if o.opcode == "STRIDED_SLICE")
    op.options["new_axis_mask"] = 1
    with pytest.raises(ModelError, match="new_axis_mask are not supported"):
        prepare_graph(g)


def test_verify_refuses_a_slice_outside_its_input():
    # a damaged file: a copy that would read past its input refused before the board runs it
    g, _ = _graph("slice_step")
    model = mote_format.from_bytes(mote_format.to_bytes(convert_graph(g)))
    verify(model)
    bad = copy.deepcopy(model)
    (layer,) = [L for L in bad.layers if L.op == "STRIDED_SLICE"]
    layer.params["offsets"] = [layer.params["offsets"][0] + 10]
    with pytest.raises(FormatError, match="shapes do not fit"):
        verify(bad)
    layer.params["offsets"] = [1]
    layer.params["steps"] = layer.params["steps"][:-1]
    with pytest.raises(FormatError, match="shapes do not fit"):
        verify(bad)


def test_unsupported_ops_name_what_to_do_instead():
    # UpSampling2D (TILE or RESIZE_NEAREST_NEIGHBOR, by TensorFlow's version) and a recurrent
    # layer kept as a loop: the refusal says which layer to use instead
    from motes.compiler.graph import Graph, Operator, Tensor
    from motes.ops import check_supported
    g = read_tflite(convert(("gather", "upsample"), lambda k, x: k.layers.UpSampling2D()(x), (3, 3, 2)))
    with pytest.raises(ModelError, match=r"(TILE|RESIZE_NEAREST_NEIGHBOR) x\d .*Conv2DTranspose"):
        prepare_graph(g)
    t = [Tensor(0, "x", (1, 4, 3), "int8", np.array([0.1], np.float32), np.array([0])),
         Tensor(1, "y", (1, 4), "int8", np.array([0.1], np.float32), np.array([0]))]
    loop = Graph("rnn", t, [Operator(0, "WHILE", [0], [1])], [0], [1])
    with pytest.raises(ModelError, match=r"WHILE x1 .*build it with unroll=True"):
        check_supported(loop)


def test_a_damaged_huge_shape_is_refused_not_allocated():
    # (a .tflite fuzz finding: a shape of 2^31 rows made the host build a 48 GiB index array)
    g = read_tflite(ISLAND.read_bytes())
    op = next(o for o in g.operators if o.opcode == "UNPACK")
    x = g.tensors[op.inputs[0]]
    x.shape = (1 << 31,) + tuple(x.shape[1:])
    from motes import ops
    with pytest.raises(ModelError, match=r"UNPACK #\d+: tensor .* elements, more than a microcontroller"):
        ops.prepare_layer(op, g)
