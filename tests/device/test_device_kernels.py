"""The device's pure-Python kernels (device/motes/k_*.py, qmath.py, fixedpoint.py) in the real
MicroPython unix port, bit for bit against the host's numpy reference kernels.

* qmath's fixed-point helpers against host quant.py on thousands of int32
  values (edges included), in one MicroPython run;
* every op-coverage model of tests/opmodels.py, per-channel and per-tensor,
  resident and streaming, 3 seeded random int8 inputs each;
* ops the op models do not produce (SUB, LEAKY_RELU, HARD_SWISH, PADV2, a
  constant CONCATENATION input, a constant first operand): two small Keras
  models; the unary ops (and a SOFTMAX) over all 256 int8 values;
* broadcasting both ways with lower-rank constants in either slot, and a
  rank-3 PAD, in a hand-built .mote;
* QUANTIZE float->int8 / DEQUANTIZE and a copying RESHAPE in a hand-built
  .mote (the converter strips float edges, so no converted model has them);
* the shared real models (hello_world, micro_speech, mlperf_tiny_kws: 3 inputs,
  person_detect: the person test image), resident and streaming. Streaming
  splits the big CONV_2D / FULLY_CONNECTED weights of micro_speech,
  mlperf_tiny_kws and person_detect into several 4096-byte chunks.

Models are written with raw (codec 0) constants only, see raw_mote_bytes().
Each MicroPython run starts a new interpreter, so inputs are batched per run.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED, SHARED_MODELS, shared_model
from motes import api, quant
from motes.run import mpy_engine
from motes import format as mote_format
from motes.compiler.converter import convert_graph
from motes.run.executor import Executor
from motes.compiler.interleave import interleave_layer
from motes.ops.base import Layer
from motes.compiler.tflite_reader import read_tflite
from tests import opmodels

MODES = ("resident", "streaming")
N_INPUTS = 3


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _pack_raw(model: mote_format.MoteModel) -> bytes:
    model.packed = [mote_format.pack_consts(L, allow={0}) for L in model.layers]
    return mote_format.to_bytes(model)


def raw_mote_bytes(source) -> bytes:
    """The .mote of a .tflite path (or of a MoteModel) with raw constants only.

    The device decoders of the entropy codecs (device/motes/decode.py) are
    written separately; switch this to api.convert(path).data once they land.
    """
    model = source if isinstance(source, mote_format.MoteModel) else api.convert(source).model
    return _pack_raw(model)


def _inputs(data: bytes, seed: int, n: int = N_INPUTS) -> list[np.ndarray]:
    model = mote_format.from_bytes(data)
    shape = model.tensors[model.inputs[0]].shape
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]


def _device(data: bytes, xs, mode: str, heap: str = "512K", measure: bool = False,
            backend: str = "python") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.mote"
        path.write_bytes(data)
        return mpy_engine.run(path, xs, heap=heap, mode=mode, backend=backend, source=backend != "native",
                              measure=measure)


def check_device(data: bytes, xs, modes=MODES, heap: str = "512K", measure: bool = False,
                 backend: str = "python") -> dict:
    """Run xs through the device runtime in each mode; assert 0 mismatches with the host.

    Returns {mode: what mpy_engine.run reported}.
    """
    ex = Executor(mote_format.from_bytes(data))
    want = [np.concatenate([o.ravel() for o in ex.run([x])]) for x in xs]   # every model output
    report = {}
    for mode in modes:
        info = _device(data, xs, mode, heap, measure, backend)
        got = [np.concatenate([o.ravel() for o in outs]) for outs in info["all_outputs"]]
        assert info["backend"] == backend and info["mode"] == mode
        assert len(got) == len(xs), f"{mode}: {len(got)} outputs for {len(xs)} inputs"
        bad = sum(int(np.count_nonzero(g.ravel() != w)) for g, w in zip(got, want))
        assert bad == 0, (f"{mode}: {bad} of {sum(w.size for w in want)} int8 outputs differ from "
                          f"the host reference\n device {[g.tolist() for g in got]}\n host   "
                          f"{[w.tolist() for w in want]}")
        report[mode] = info
    return report


def check_each_output(model: mote_format.MoteModel, xs, modes=MODES, backend: str = "python") -> None:
    """The device runtime gives only the first model output: check them one by one."""
    for out in list(model.outputs):
        model.outputs = [out]
        check_device(raw_mote_bytes(model), xs, modes, backend=backend)


# ---------------------------------------------------------------------------
# qmath against host quant.py
# ---------------------------------------------------------------------------

_QMATH_SCRIPT = r"""
import sys, json
sys.path.insert(0, {device!r})
from motes import qmath as q
from motes import fixedpoint as fp
fns = {{
    "mbqm": q.mbqm, "srdhm": q.srdhm, "rdpot": q.rdpot, "srmpot": q.srmpot,
    "exp_neg": fp.exp_neg, "logistic": fp.logistic, "tanh": fp.tanh,
    "one_over_one_plus": fp.one_over_one_plus, "reciprocal": fp.reciprocal,
    "wrap32": q.wrap32,
}}
f = open({cases!r})
for line in f:
    name, args = json.loads(line)
    fn = fns[name]
    print(json.dumps([fn(*a) for a in args]))
f.close()
"""


def _int32(rng, n, lo=-(1 << 31), hi=(1 << 31)):
    edges = [lo, lo + 1, hi - 1, hi - 2, 0, 1, -1]
    edges = [e for e in edges if lo <= e < hi]
    return [int(v) for v in rng.integers(lo, hi, size=n, dtype=np.int64)] + edges


def test_qmath_matches_host_quant():
    rng = np.random.default_rng(7)
    n = 400
    cases = {}
    xs = _int32(rng, n) + [int(v) for v in rng.integers(-(1 << 20), 1 << 20, size=n)]
    ms = [int(v) for v in rng.integers(1 << 30, 1 << 31, size=len(xs))]
    ss = [int(v) for v in rng.integers(-20, 12, size=len(xs))]
    cases["mbqm"] = [(x, m, s) for x, m, s in zip(xs, ms, ss)]
    a, b = _int32(rng, n), _int32(rng, n)
    cases["srdhm"] = list(zip(a, b[::-1])) + [(-(1 << 31), -(1 << 31)), (-(1 << 31), 1 << 30)]
    es = [int(v) for v in rng.integers(0, 31, size=len(a))]
    cases["rdpot"] = list(zip(a, es)) + [(x, e) for x in range(-9, 10) for e in range(5)]
    cases["srmpot"] = [(x, int(e)) for x, e in zip(a, rng.integers(-12, 12, size=len(a)))]
    cases["wrap32"] = [(int(v),) for v in rng.integers(-(1 << 40), 1 << 40, size=n)]
    neg = _int32(rng, n, hi=1) + [-(k << 22) for k in range(0, 64)]
    cases["exp_neg"] = [(v, ib) for v in neg for ib in (4, 5, 6)]
    q4 = _int32(rng, n) + [k << 23 for k in range(-40, 40)]
    cases["logistic"] = [(v, 4) for v in q4]
    cases["tanh"] = [(v, 4) for v in q4]
    cases["one_over_one_plus"] = [(v,) for v in _int32(rng, n, lo=0)]
    cases["reciprocal"] = [(v, 12) for v in _int32(rng, n, lo=1)] + [(v, 12) for v in (1 << 19, 3 << 19, 255 << 19)]

    def host(name, args):
        cols = [np.array(c, dtype=np.int64) for c in zip(*args)]
        if name == "mbqm":
            return quant.multiply_by_quantized_multiplier(*cols)
        if name == "srdhm":
            return quant.saturating_rounding_doubling_high_mul(*cols)
        if name == "rdpot":
            return quant.rounding_divide_by_pot(*cols)
        if name == "wrap32":
            return quant.wrap_int32(cols[0])
        if name == "srmpot":
            return [int(quant.saturating_rounding_multiply_by_pot(np.int64(x), int(e))) for x, e in args]
        if name == "exp_neg":
            return [int(quant.exp_on_negative_values(np.int64(v), ib)) for v, ib in args]
        if name == "logistic":
            return quant.fixedpoint_logistic(cols[0], 4)
        if name == "tanh":
            return quant.fixedpoint_tanh(cols[0], 4)
        if name == "one_over_one_plus":
            return quant.one_over_one_plus_x_for_x_in_0_1(cols[0])
        if name == "reciprocal":
            r, nb = quant.get_reciprocal(cols[0], 12)
            return [[int(x), int(y)] for x, y in zip(r, nb)]
        raise KeyError(name)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        path.write_text("".join(json.dumps([k, v]) + "\n" for k, v in cases.items()))
        script = Path(tmp) / "run.py"
        script.write_text(_QMATH_SCRIPT.format(device=str(mpy_engine.DEVICE_DIR), cases=str(path)))
        proc = subprocess.run([mpy_engine.micropython_path(), str(script)], capture_output=True,
                              text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout[-2000:]
    lines = proc.stdout.splitlines()
    assert len(lines) == len(cases)
    for (name, args), line in zip(cases.items(), lines):
        got = json.loads(line)
        want = [v if isinstance(v, list) else int(v) for v in host(name, args)]
        bad = [(a, g, w) for a, g, w in zip(args, got, want) if g != w]
        assert not bad, f"{name}: {len(bad)} of {len(args)} differ, e.g. {bad[:3]}"


# ---------------------------------------------------------------------------
# op-coverage models
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("name", sorted(opmodels.SPECS))
def test_opmodel_on_device(name, per_channel, opmodel_cache):
    data = raw_mote_bytes(opmodels.build(name, opmodel_cache, per_channel=per_channel))
    check_device(data, _inputs(data, seed=sum(map(ord, name)) + per_channel))


# ---------------------------------------------------------------------------
# ops the op models do not produce
# ---------------------------------------------------------------------------

def _keras_model_mote(key, build, in_shape, cache_dir, seed) -> mote_format.MoteModel:
    """MoteModel of keras.Model(x, build(keras, x)) converted to int8 (cached .tflite)."""
    import hashlib
    import inspect
    h = hashlib.sha256((inspect.getsource(build) + inspect.getsource(_keras_model_mote)
                        + repr((in_shape, seed))).encode()).hexdigest()[:10]
    path = Path(cache_dir) / f"devk-{key}-{h}.tflite"
    if not path.exists():
        import keras

        from tests.tflm import keras_to_int8
        keras.utils.set_random_seed(seed)
        x = keras.Input(shape=in_shape, batch_size=1)
        model = keras.Model(x, build(keras, x))
        rng = np.random.default_rng(seed)
        calib = (rng.normal(0, 1, size=(32,) + in_shape) * 3 + 0.4).astype(np.float32)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(keras_to_int8(model, calib))
        tmp.replace(path)
        keras.backend.clear_session()
    graph = read_tflite(path.read_bytes())
    graph.name = key
    return convert_graph(graph)


def _unary_build(k, x):
    L = k.layers
    return [L.LeakyReLU(negative_slope=0.2)(x), L.Activation("hard_swish")(x),
            L.LeakyReLU(negative_slope=1.7)(x), L.Activation("sigmoid")(x),
            L.Activation("tanh")(x), L.ReLU()(x), L.ReLU(max_value=6.0)(x),
            L.Softmax()(L.Flatten()(x))]


def _misc_build(k, x):
    L = k.layers
    init = k.initializers.RandomNormal(stddev=0.5, seed=1)
    a = L.Conv2D(4, 1, bias_initializer=init)(x)
    b = L.Conv2D(1, 1, bias_initializer=init)(x)
    c = np.linspace(-1, 1, 4).astype(np.float32)
    const = k.ops.ones_like(x)[..., :2] * np.array([0.5, -0.25], np.float32)
    return [
        k.ops.pad(L.Subtract()([a, b]), ((0, 0), (1, 2), (0, 1), (0, 0)), constant_values=0.7),
        k.ops.subtract(c, x),                                  # constant first operand
        k.ops.mean(k.ops.subtract(x, c), axis=2, keepdims=True),
        L.Concatenate(axis=-1)([x, const]),                    # constant concat input
    ]


@pytest.mark.parametrize("backend", ["python", "viper", "native"])
def test_unary_ops_all_int8_values(opmodel_cache, backend):
    # (native: SOFTMAX, LOGISTIC and TANH in C;
    # viper has none of these ops: its Python kernels)
    model = _keras_model_mote("unary", _unary_build, (16, 16), opmodel_cache, seed=5)
    assert {L.op for L in model.layers} == {"LEAKY_RELU", "HARD_SWISH", "LOGISTIC", "TANH", "RELU",
                                            "RELU6", "RESHAPE", "SOFTMAX"}
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 16, 16)
    check_each_output(model, [x, x[..., ::-1].copy(), np.roll(x, 37)], backend=backend)


@pytest.mark.parametrize("backend", ["python", "native"])
def test_sub_padv2_const_operands(opmodel_cache, backend):
    model = _keras_model_mote("misc", _misc_build, (6, 5, 4), opmodel_cache, seed=9)
    ops_seen = {L.op for L in model.layers}
    assert {"SUB", "PADV2", "CONCATENATION", "MEAN"} <= ops_seen, ops_seen
    assert any(L.op == "SUB" and "input1" in L.consts for L in model.layers)
    assert any(L.op == "CONCATENATION" and "constants" in L.consts for L in model.layers)
    data = raw_mote_bytes(model)
    check_each_output(model, _inputs(data, seed=10), backend=backend)


def _select_build(k, x):
    # x [1, 6, 4, 3]: every op of k_gather.py and k_select.py, in two outputs
    L = k.layers
    flat = L.Flatten()
    p = k.ops.split(x, 3, axis=3)                               # SPLIT
    u = k.ops.unstack(x, axis=1)                                # UNPACK: 6 of [1, 4, 3]
    q = k.ops.split(x, [1, 4], axis=1)                          # SPLIT_V: 1, 3, 2 rows
    moved = L.Concatenate()([
        flat(x[:, 1:5:2, ::-1, :]),                             # STRIDED_SLICE, negative step
        flat(L.Permute((3, 1, 2))(x)),                          # TRANSPOSE
        flat(L.Concatenate()([p[2], p[0], p[1]])),
        flat(k.ops.stack([u[0], u[5]], axis=2)),                # PACK
        flat(q[1]), flat(q[2]),
        flat(k.ops.slice(x, (0, 2, 1, 0), (1, 3, 2, 3))),       # SLICE
    ])
    c = np.array([0.5, -0.25, 1.0], np.float32)
    picked = L.Concatenate()([
        flat(k.ops.maximum(u[1], u[2])),                        # MAXIMUM
        flat(k.ops.minimum(x, c)),                              # MINIMUM, a constant broadcast
        L.GlobalMaxPooling2D()(x),                              # REDUCE_MAX
        flat(k.ops.max(x, axis=(1, 3), keepdims=True)),
    ])
    return [moved, picked]


@pytest.mark.parametrize("backend", ["python", "native"])
def test_slices_and_picks(opmodel_cache, backend):
    # (no backend has C for these: the native backend runs their Python kernels
    # beside its own, the two outputs checked in both modes)
    model = _keras_model_mote("select", _select_build, (6, 4, 3), opmodel_cache, seed=12)
    ops_seen = {L.op for L in model.layers}
    assert {"STRIDED_SLICE", "SLICE", "TRANSPOSE", "SPLIT", "SPLIT_V", "UNPACK", "PACK", "MAXIMUM",
            "MINIMUM", "REDUCE_MAX"} <= ops_seen, ops_seen
    data = raw_mote_bytes(model)
    check_each_output(model, _inputs(data, seed=13), backend=backend)


def _tconv_build(k, x):
    # x [1, 3, 4, 2]: a decoder's two TRANSPOSE_CONVs (SAME, stride 2, relu; VALID, stride (1, 2))
    L = k.layers
    init = k.initializers.RandomNormal(stddev=0.5, seed=3)
    h = L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu", bias_initializer=init)(x)
    return L.Conv2DTranspose(2, (2, 3), strides=(1, 2), padding="valid", bias_initializer=init)(h)


@pytest.mark.parametrize("backend", ["python", "native"])
def test_transpose_conv_on_device(opmodel_cache, backend):
    model = _keras_model_mote("tconv", _tconv_build, (3, 4, 2), opmodel_cache, seed=15)
    assert [L.op for L in model.layers].count("TRANSPOSE_CONV") == 2
    data = raw_mote_bytes(model)
    check_each_output(model, _inputs(data, seed=16), backend=backend)


@pytest.mark.parametrize("backend", ["python", "native"])
def test_float_island_on_device(backend):
    # an LSTM whose converter left DEQUANTIZE -> SPLIT (float32) -> QUANTIZE: on the board
    # the SPLIT moves int8 values and each QUANTIZE goes through float32 (mode 3)
    path = Path(__file__).parents[1] / "data" / "float_island" / "lstm_island.tflite"
    model = convert_graph(read_tflite(path.read_bytes()))
    assert any(L.op == "QUANTIZE" and L.params["mode"] == 3 for L in model.layers)
    data = raw_mote_bytes(model)
    check_each_output(model, _inputs(data, seed=14, n=40), backend=backend)


def _float_edges_model() -> mote_format.MoteModel:
    """int8 [1,64] -> RESHAPE (copied: own offset) -> DEQUANTIZE -> float32 -> QUANTIZE x4."""
    T = mote_format.TensorInfo
    tensors = [T((1, 64), "int8", 0.1, 3, 0), T((8, 8), "int8", 0.1, 3, 64),
               T((8, 8), "float32", 0.0, 0, 128)]
    layers = [Layer("RESHAPE", [0], [1]),
              Layer("DEQUANTIZE", [1], [2], params=dict(
                  mode=2, input_zero_point=3, output_zero_point=0, multiplier=0, shift=0,
                  scale_f32=quant.f32_bits(0.1)))]
    # halves (scale 0.2 of 0.1 steps), a generic scale, overflow of int32 and float32
    for scale, zp in ((0.2, -5), (0.0123, 7), (1e-9, 0), (1e-37, 2)):
        tensors.append(T((8, 8), "int8", scale, zp, 384 + 64 * (len(tensors) - 3)))
        layers.append(Layer("QUANTIZE", [2], [len(tensors) - 1], params=dict(
            mode=1, input_zero_point=0, output_zero_point=zp, multiplier=0, shift=0,
            scale_f32=quant.f32_bits(scale))))
    return mote_format.MoteModel({}, tensors, layers, [0], [3, 4, 5, 6], 384 + 64 * 4)


def _elementwise_params(op, s1, z1, s2, z2, so, zo, act_min=-128):
    """ADD / SUB / MUL params as host ops/elementwise.py derives them."""
    p = dict(input1_offset=-z1, input2_offset=-z2, output_offset=zo, left_shift=0,
             input1_multiplier=0, input1_shift=0, input2_multiplier=0, input2_shift=0,
             output_multiplier=0, output_shift=0, act_min=act_min, act_max=127)
    if op == "MUL":
        p["output_multiplier"], p["output_shift"] = quant.quantize_multiplier(s1 * s2 / so)
    else:
        twice = 2.0 * max(s1, s2)
        (m1, e1), (m2, e2), (mo, eo) = (quant.quantize_multiplier(r) for r in
                                        (s1 / twice, s2 / twice, twice / ((1 << 20) * so)))
        p.update(left_shift=20, input1_multiplier=m1, input1_shift=e1, input2_multiplier=m2,
                 input2_shift=e2, output_multiplier=mo, output_shift=eo)
    return p


def _broadcast_model() -> mote_format.MoteModel:
    """Broadcasting both ways, constants of lower rank in either slot, a rank-3 PAD."""
    T = mote_format.TensorInfo
    tensors = [T((1, 3, 1, 4), "int8", 0.05, -7, 0), T((1, 3, 2, 4), "int8", 0.08, 5, 16),
               T((1, 3, 2, 4), "int8", 0.35, -2, 48), T((1, 3, 2, 4), "int8", 0.3, 1, 80),
               T((3, 2, 4), "int8", 0.7, -100, 112), T((4, 3, 7), "int8", 0.7, -100, 144)]
    rng = np.random.default_rng(3)
    layers = [
        Layer("ADD", [0], [1], params=_elementwise_params("ADD", 0.05, -7, 0.04, 3, 0.08, 5),
              consts=dict(input2=rng.integers(-128, 128, size=(2, 1)).astype(np.int8))),
        Layer("MUL", [1], [3], params=_elementwise_params("MUL", 0.02, 4, 0.08, 5, 0.3, 1),
              consts=dict(input1=rng.integers(-128, 128, size=(4,)).astype(np.int8))),
        Layer("SUB", [0, 3], [2], params=_elementwise_params("SUB", 0.05, -7, 0.3, 1, 0.35, -2)),
        Layer("MUL", [2, 2], [4], params=_elementwise_params("MUL", 0.35, -2, 0.35, -2, 0.7, -100, -90)),
        Layer("PAD", [4], [5], params=dict(pad_value=-100, pad_before=[1, 0, 2], pad_after=[0, 1, 1])),
    ]
    return mote_format.MoteModel({}, tensors, layers, [0], [1, 2, 3, 4, 5], 144 + 84)


def test_broadcasting_and_rank3_pad():
    model = _broadcast_model()
    data = raw_mote_bytes(model)
    check_each_output(model, _inputs(data, seed=4))


def test_float_quantize_dequantize_and_reshape_copy():
    model = _float_edges_model()
    data = raw_mote_bytes(model)
    x = np.arange(-128, 128, dtype=np.int8)
    xs = [x[:64], x[64:128], x[128:192], x[192:]]
    check_each_output(model, xs)


# ---------------------------------------------------------------------------
# shared real models
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", [m for m in SHARED_MODELS if m != "person_detect"])
def test_shared_model_on_device(name):
    data = raw_mote_bytes(shared_model(name))
    report = check_device(data, _inputs(data, seed=len(name)))
    for mode, info in report.items():
        us = info.get("us_per_inference") or [0]
        print(f"{name} {mode}: {sum(us) / len(us) / 1000:.2f} ms per inference (unix port)")


def test_person_detect_on_device():
    # Slowest test: ~0.45 s per inference in the unix port's pure Python (~7 M MACs),
    # a few seconds in all. Resident mode needs a larger heap than 512K here.
    data = raw_mote_bytes(shared_model("person_detect"))
    raw = SHARED / "testdata" / "person_detection" / "person_96x96_u8_topdown.raw"
    x = np.frombuffer(raw.read_bytes(), dtype=np.uint8).view(np.int8).reshape(1, 96, 96, 1)
    report = check_device(data, [x], modes=("streaming",), heap="512K")
    report.update(check_device(data, [x], modes=("resident",), heap="1M"))
    for mode, info in report.items():
        assert info["outputs"][0].tolist() == [-113, 113]       # TFLM's answer: person
        us = info.get("us_per_inference") or [0]
        print(f"person_detect {mode}: {us[0] / 1000:.1f} ms per inference (unix port)")


# ---------------------------------------------------------------------------
# interleaved layers (format 1.2): hand-built FULLY_CONNECTED / CONV_2D layers
# ---------------------------------------------------------------------------

def _il_consts(rng, oc, depth, per_channel, w_shape):
    w = rng.integers(-127, 128, size=w_shape).astype(np.int8)
    spread = np.sqrt(depth) * 74 * 74
    bias = rng.integers(-int(spread), int(spread), size=oc).astype(np.int32)
    reals = 40 / spread * (rng.uniform(0.5, 2, size=oc) if per_channel else np.ones(1))
    ms = [quant.quantize_multiplier(float(r)) for r in reals]
    return dict(weights=w, bias=bias, multiplier=np.array([m for m, _ in ms], np.int32),
                shift=np.array([s for _, s in ms], np.int8))


def _il_fc(per_channel, seed, batch=3, depth=37, out=21, in_zp=-9, shift_int32=False):
    rng = np.random.default_rng(seed)
    T = mote_format.TensorInfo
    n_in = batch * depth
    tensors = [T((batch, depth), "int8", 0.1, in_zp, 0), T((batch, out), "int8", 0.2, 4, n_in)]
    consts = _il_consts(rng, out, depth, per_channel, (out, depth))
    if shift_int32:      # a dtype the C kernels do not take: k_native hands it to the Python kernel
        consts["shift"] = consts["shift"].astype(np.int32)
    layer = Layer("FULLY_CONNECTED", [0], [1], params=dict(
        input_offset=-in_zp, filter_offset=0, output_offset=4, act_min=-100, act_max=127), consts=consts)
    return tensors, layer, n_in + batch * out


def _il_conv(per_channel, seed, in_shape, oc, k, stride, pad, dil=(1, 1), in_zp=17, bias=True):
    rng = np.random.default_rng(seed)
    T = mote_format.TensorInfo
    nb, ih, iw, ic = in_shape
    oh = (ih + 2 * pad[0] - dil[0] * (k[0] - 1) - 1) // stride[0] + 1
    ow = (iw + 2 * pad[1] - dil[1] * (k[1] - 1) - 1) // stride[1] + 1
    n_in = int(np.prod(in_shape))
    tensors = [T(in_shape, "int8", 0.1, in_zp, 0), T((nb, oh, ow, oc), "int8", 0.2, -3, n_in)]
    consts = _il_consts(rng, oc, k[0] * k[1] * ic, per_channel, (oc, k[0], k[1], ic))
    if not bias:        # optional in an interleaved CONV_2D (stored as TFLite's, not folded)
        del consts["bias"]
    layer = Layer("CONV_2D", [0], [1], params=dict(
        stride_h=stride[0], stride_w=stride[1], dilation_h=dil[0], dilation_w=dil[1], pad_h=pad[0],
        pad_w=pad[1], input_offset=-in_zp, output_offset=-3, act_min=-128, act_max=127), consts=consts)
    return tensors, layer, n_in + nb * oh * ow * oc


# out channels not a multiple of 8, odd depths, batch > 1, padding, strides,
# dilation, 1x1 (with and without padding), an exact group of 8, a shift dtype
# the C kernels do not take, CONV_2D without a bias (3x3 padded, and 1x1
# padded: output pixels with no tap inside the image)
IL_LAYERS = {
    "fc_b3_d37_o21": lambda pc, s: _il_fc(pc, s),
    "fc_b1_d8_o5": lambda pc, s: _il_fc(pc, s, batch=1, depth=8, out=5, in_zp=100),
    "fc_shift_int32": lambda pc, s: _il_fc(pc, s, batch=2, depth=13, out=17, shift_int32=True),
    "conv3x3_s2_p1": lambda pc, s: _il_conv(pc, s, (1, 9, 7, 5), 11, (3, 3), (2, 2), (1, 1)),
    "conv1x1": lambda pc, s: _il_conv(pc, s, (1, 4, 4, 13), 19, (1, 1), (1, 1), (0, 0), in_zp=-3),
    "conv1x1_s2_p1": lambda pc, s: _il_conv(pc, s, (1, 5, 5, 4), 9, (1, 1), (2, 2), (1, 1), in_zp=-128),
    "conv2x3_dil_o8": lambda pc, s: _il_conv(pc, s, (2, 6, 8, 3), 8, (2, 3), (1, 2), (1, 1), (2, 1)),
    "conv3x3_p1_nobias": lambda pc, s: _il_conv(pc, s, (1, 6, 5, 7), 10, (3, 3), (1, 1), (1, 1),
                                                 in_zp=-60, bias=False),
    "conv1x1_s2_p1_nobias": lambda pc, s: _il_conv(pc, s, (1, 5, 5, 6), 12, (1, 1), (2, 2), (1, 1),
                                                    in_zp=45, bias=False),
}
# (mode, chunk bytes): the default; smaller than one group (the chunk is one
# group); one or a few groups; several groups and a smaller last one
IL_RUNS = [("resident", 4096), ("streaming", 4096), ("streaming", 64), ("streaming", 200),
           ("streaming", 800)]

_IL_SCRIPT = """
import motes
from motes import kernels
kernels.use({backend!r})
for mode, chunk in {runs!r}:
    net = motes.load({path!r}, mode=mode, chunk=chunk, verbose=False)
    out = bytearray(net.tensor(net.outputs[0]).n)
    for x in {xs!r}:
        net.predict_int8(x, out)
        print(list(v - 256 if v > 127 else v for v in out))
    net.close()
import sys
v = sys.modules.get("motes.k_viper")
print("B", motes.backend(), v.fallbacks if v else "-")
"""


def il_model(name, per_channel, interleave=True) -> mote_format.MoteModel:
    tensors, layer, arena = IL_LAYERS[name](per_channel, sum(map(ord, name)))
    if interleave:
        layer = interleave_layer(layer)
    model = mote_format.MoteModel({}, tensors, [layer], [0], [1], arena)
    model.packed = [mote_format.pack_consts(layer)]
    return model


def run_il(data: bytes, xs, backend: str) -> tuple[list, str]:
    """Outputs of every (mode, chunk) of IL_RUNS, and the last line (backend, viper fallbacks)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.mote"
        path.write_bytes(data)
        code = _IL_SCRIPT.format(backend=backend, runs=IL_RUNS, path=str(path),
                                 xs=[x.ravel().tolist() for x in xs])
        proc = mpy_engine.run_code(code, heap="1M", source=backend != "native")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    return [np.array(eval(ln), np.int8) for ln in lines[:-1]], lines[-1]


@pytest.mark.parametrize("backend", ["python", "viper", "native"])
@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("name", sorted(IL_LAYERS))
def test_interleaved_layer_on_device(name, per_channel, backend):
    model = il_model(name, per_channel)
    data = mote_format.to_bytes(model)
    assert data[5] == 2
    stored = mote_format.from_bytes(data)
    assert stored.layers[0].interleaved
    # the same layer row-major (format 1.1) gives the same host outputs
    plain = mote_format.to_bytes(il_model(name, per_channel, interleave=False))
    assert plain[5] == 1
    xs = _inputs(data, seed=len(name))
    xs.append(np.full(xs[0].shape, -128, np.int8))     # all -128 (the input zero point of one case)
    want = [Executor(stored).run([x])[0].ravel() for x in xs]
    assert all(np.array_equal(w, Executor(mote_format.from_bytes(plain)).run([x])[0].ravel())
               for w, x in zip(want, xs))
    assert len({tuple(w) for w in want}) > 1 and any(len(set(w.tolist())) > 3 for w in want)
    got, last = run_il(data, xs, backend)
    assert last.split()[1] == backend, last
    if backend == "viper":
        assert last.split()[2] == "0", last             # no layer fell back to Python
    assert len(got) == len(IL_RUNS) * len(xs)
    for k, (mode, chunk) in enumerate(IL_RUNS):
        for j, w in enumerate(want):
            g = got[k * len(xs) + j]
            assert np.array_equal(g, w), f"{mode} chunk {chunk} input {j}:\n device {g.tolist()}\n host   {w.tolist()}"
    # the row-major file still runs (format 1.1)
    got, _ = run_il(plain, xs[:1], backend)
    for g in got:
        assert np.array_equal(g, want[0])
