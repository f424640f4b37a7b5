"""motes vs TensorFlow Lite Micro, end to end through the .mote file.

Each model is converted, written to bytes, read back and run by the arena
executor; outputs must equal TFLM's (the `tflite-micro` interpreter, reference
kernels) element for element. Goldens come from TFLM at test time.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from conftest import SHARED, SHARED_MODELS, shared_model
from motes import api
from motes.run.compare import compare, random_inputs
from motes.compiler.converter import ConvertOptions
from motes.format import from_bytes
from tests import opmodels

# format 1.1 and up, with the derived constants wherever smaller (not only where they
# save a kilobyte), so that they are checked against TFLM in every model here
OPTIONS = ConvertOptions(compact=True, derived_min_saving=0)


N_RANDOM = 50


def _roundtrip(path):
    conv = api.convert(path, options=OPTIONS)
    return conv, from_bytes(conv.data)


def _interleaved(model) -> list[bool]:
    return [L.interleaved for L in model.layers if L.op in ("FULLY_CONNECTED", "CONV_2D")]


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_shared_model_bitexact(name):
    conv, model = _roundtrip(shared_model(name))
    if name in ("person_detect", "mlperf_tiny_kws_ref_model", "hello_world_int8"):
        assert all(_interleaved(model)) and conv.data[5] == 2        # format 1.2
    if name == "micro_speech_quantized":       # its FC's group (4 x 4000 bytes) is over the limit;
        # its depthwise stem on one channel is written as an (interleaved) CONV_2D
        assert _interleaved(model) == [True, False] and conv.data[5] == 2
    result = compare(conv.tflite, conv.data, random_inputs(model, N_RANDOM, seed=1))
    assert result["n"] == N_RANDOM
    assert result["mismatches"] == 0, result


@pytest.mark.parametrize("name", ["person_detect", "mlperf_tiny_kws_ref_model"])
def test_shared_model_bitexact_row_major(name):
    """convert_graph(..., interleave=False): a 1.1 file, still read and run exactly."""
    conv = api.convert(shared_model(name), interleave=False, options=OPTIONS)
    model = from_bytes(conv.data)
    assert conv.data[5] == 1 and not any(_interleaved(model))
    result = compare(conv.tflite, conv.data, random_inputs(model, 20, seed=1))
    assert result["mismatches"] == 0, result


@pytest.mark.parametrize("image,expected", [("person", [-113, 113]), ("no_person", [57, -57])])
def test_person_images(image, expected):
    conv, model = _roundtrip(shared_model("person_detect"))
    raw = (SHARED / "testdata" / "person_detection" / f"{image}_96x96_u8_topdown.raw").read_bytes()
    x = np.frombuffer(raw, dtype=np.int8)
    result = compare(conv.tflite, conv.data, [x])
    assert result["mismatches"] == 0, result
    out, _ = api.run(model, x)
    # the values TFLM gives for these images (shared/models/MANIFEST.md)
    assert out.ravel().tolist() == expected


@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
@pytest.mark.parametrize("name", sorted(opmodels.SPECS))
def test_opmodel_bitexact(name, per_channel, opmodel_cache):
    path = opmodels.build(name, opmodel_cache, per_channel=per_channel)
    conv, model = _roundtrip(path)
    from motes.compiler import converter, interleave
    for layer in model.layers:
        if layer.op in interleave.OPS:
            w = layer.consts["weights"]
            grouped = layer.op == "CONV_2D" and w.shape[-1] != model.tensors[layer.inputs[0]].shape[-1]
            big = interleave.group_bytes(layer) > converter.group_limit(model.arena_size)   # e.g. concat, pool FCs
            # interleaved unless grouped (conv_grouped) or over the group limit: those stay row-major
            assert layer.interleaved == (not grouped and not big), (name, layer.op, w.shape)
    result = compare(conv.tflite, conv.data, random_inputs(model, N_RANDOM, seed=2))
    assert result["mismatches"] == 0, result


def test_device_rebuilds_multipliers_like_the_host():
    """device/motes/derive.py and motes.quant rebuild the same multipliers and shifts
    from float32 scale bits (subnormal, zero and extreme scales included)."""
    import ast

    from motes.run import mpy_engine
    from motes.quant import multiplier_from_scale_bits
    rng = np.random.default_rng(3)
    cases = [(0x3df78cf3, 0x3b9bbba9, [0x383b0eac])]     # TFLM's double rounding differs here
    for i in range(400):
        a, o = (int(v) for v in rng.integers(0x30000000, 0x40000000, size=2))
        ws = [int(v) for v in rng.integers(0x28000000, 0x3F000000, size=8)]
        ws[0] = int(rng.integers(0, 0x800000)) if i % 3 == 0 else ws[0]   # subnormal
        ws[1] = 0 if i % 4 == 0 else ws[1]
        o = int(rng.integers(1, 0x800000)) if i % 11 == 0 else o
        a = int(rng.integers(1, 0x800000)) if i % 13 == 0 else a
        if i % 17 == 0:
            a, o = (int(v) for v in rng.integers(0x00800000, 0x7F800000, size=2))
        cases.append((a, o, ws))
    want = []
    for a, o, ws in cases:
        r = [multiplier_from_scale_bits(a, w, o) for w in ws]
        want.append("E" if any(s > 127 for _, s in r) else [list(x) for x in r])
    code = """
import io
from array import array
from motes.derive import scales
from motes.structs import Const, Layer
out = []
for a, o, ws in %r:
    class N:
        pass
    net = N()
    net._sc = array("i", [a, o])          # the tensor scales' bits, as the reader stores them
    p = bytes([0]) + bytes(array("i", ws))  # inner codec raw, then the scale bits
    net._f = io.BytesIO(p)
    L = Layer(1, (0,), (1,), (), [None, None, Const(5, 3, (len(ws),), 0, len(p), len(ws))], None)
    m = array("i", range(len(ws)))
    s = array("b", range(len(ws)))
    try:
        scales(net, L, m, s)
        out.append([[m[i], s[i]] for i in range(len(ws))])
    except ValueError:
        out.append("E")
print(out)
""" % (cases,)
    proc = mpy_engine.run_code(code, heap="8M", source=True)
    assert proc.returncode == 0, proc.stderr
    assert ast.literal_eval(proc.stdout.strip().splitlines()[-1]) == want


@pytest.mark.parametrize("interleave", [False, True])
@pytest.mark.parametrize("name", ["mlperf_tiny_kws_ref_model"])
def test_device_runs_every_derived_form(name, interleave, tmp_path):
    """Scales and predicted biases in every layer kind (also FULLY_CONNECTED and CONV_2D
    biases, which the converter does not predict by default), on the device in both modes
    and with each backend: equal to the host executor. Interleaved layers (format 1.2)
    never have a predicted bias: with interleave=True, CONV_2D / FULLY_CONNECTED keep
    their scales and the bias folded with the input offset."""
    from motes import format as F
    from motes.run import mpy_engine
    from motes.run.executor import Executor
    conv = api.convert(shared_model(name), interleave=interleave,
                       options=replace(OPTIONS, biaspred_ops=tuple(F.DERIVED_OPS)))
    used = {(L.op, pc.codec_name) for L, p in zip(conv.model.layers, conv.model.packed) for pc in p.values()}
    want = {("DEPTHWISE_CONV_2D", "biaspred"), ("CONV_2D", "scales"),
            ("DEPTHWISE_CONV_2D", "scales"), ("FULLY_CONNECTED", "scales")}
    assert want <= used
    assert (("CONV_2D", "biaspred") in used) == (not interleave)
    assert any(L.interleaved for L in conv.model.layers) == interleave
    model = from_bytes(conv.data)
    rng = np.random.default_rng(7)
    xs = [rng.integers(-128, 128, size=model.tensors[model.inputs[0]].shape, dtype=np.int8) for _ in range(2)]
    ref = [Executor(model).run([x])[0].ravel() for x in xs]
    path = tmp_path / "m.mote"
    path.write_bytes(conv.data)
    for backend in ("native", "viper", "python"):
        for mode in ("resident", "streaming"):
            out = mpy_engine.run(path, xs, heap="1M", mode=mode, backend=backend, measure=False)["outputs"]
            for o, e in zip(out, ref):
                np.testing.assert_array_equal(o, e, err_msg=f"{backend} {mode}")
