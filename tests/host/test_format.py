"""The .mote container: round trip, and clear errors for damaged or foreign files."""
from __future__ import annotations

import re
import struct
import zlib

import numpy as np
import pytest

from conftest import ROOT, shared_model
from motes import api
from motes import format as F



@pytest.fixture(scope="module")
def hello():
    return api.convert(shared_model("hello_world_int8"))


def _fix_crc(data: bytes) -> bytes:
    body = data[F.HEADER.size:]
    return data[:12] + struct.pack("<I", zlib.crc32(body)) + body


def test_roundtrip_keeps_everything(hello):
    model = F.from_bytes(hello.data)
    assert F.to_bytes(model) == hello.data
    assert model.meta["name"] == "hello_world_int8"
    assert [L.op for L in model.layers] == ["FULLY_CONNECTED"] * 3
    for a, b in zip(model.layers, hello.model.layers):
        assert a.params == b.params
        for name in b.consts:
            np.testing.assert_array_equal(a.consts[name], b.consts[name])


def test_section_table_covers_file(hello):
    table = F.section_table(hello.data)
    kinds = [k for k, _, _ in table]
    assert kinds[:3] == [F.SEC_META, F.SEC_TENSORS, F.SEC_GRAPH]
    assert kinds.count(F.SEC_LAYER) == 3
    last_kind, last_off, last_len = table[-1]
    assert last_off + last_len == len(hello.data)


@pytest.mark.parametrize("mutate,message", [
    (lambda d: b"NOPE" + d[4:], "not a .mote file"),
    (lambda d: d[:4] + bytes([2]) + d[5:], r"version 2\.\d"),
    (lambda d: d[:-1], "truncated"),
    (lambda d: d + b"\0", "extra bytes"),
    (lambda d: d[:40] + bytes([d[40] ^ 0xFF]) + d[41:], "CRC mismatch"),
    (lambda d: b"", "not a .mote file"),
])
def test_damaged_files_are_rejected(hello, mutate, message):
    with pytest.raises(F.FormatError, match=message):
        F.from_bytes(mutate(hello.data))


def test_newer_minor_version_with_unknown_section_is_read(hello):
    data = bytearray(hello.data)
    data[5] = 7  # minor version from the future
    # prepend an unknown section kind 99 to the table: rebuild table + payloads
    table = F.section_table(bytes(data))
    payloads = [bytes(data[o:o + n]) for _, o, n in table]
    kinds = [k for k, _, _ in table]
    new = bytearray()
    F.put_uvarint(new, len(table) + 1)
    for k, p in [(99, b"future")] + list(zip(kinds, payloads)):
        new.append(k)
        F.put_uvarint(new, len(p))
    new += b"future" + b"".join(payloads)
    out = bytes(data[:8]) + struct.pack("<I", F.HEADER.size + len(new)) + b"\0\0\0\0" + bytes(new)
    model = F.from_bytes(_fix_crc(out))
    assert len(model.layers) == 3


def test_inconsistent_sizes_are_rejected(hello):
    data = bytearray(hello.data)
    table = F.section_table(bytes(data))
    # claim one byte less for the last section: the table no longer covers the file
    n = len(table)
    pos = F.HEADER.size + 1
    for i in range(n):
        pos += 1  # kind
        start = pos
        while data[pos] & 0x80:
            pos += 1
        pos += 1
        if i == n - 1:
            data[start] -= 1
    with pytest.raises(F.FormatError, match="covers"):
        F.from_bytes(_fix_crc(bytes(data)))


def test_op_table_in_format_doc_is_current():
    doc = (ROOT / "docs" / "FORMAT.md").read_text()
    assert F.op_table_markdown() in doc, "run 'make format-doc' to refresh docs/FORMAT.md"


def test_varints_roundtrip():
    values = [0, 1, -1, 63, -64, 64, 127, 128, -129, 2**31 - 1, -2**31, 2**40]
    buf = bytearray()
    for v in values:
        F.put_svarint(buf, v)
    r = F.Reader(bytes(buf), "test")
    assert [r.svarint() for _ in values] == values
    assert r.done()


# ---- format 1.1: implied shapes and derived constants ------------------------------

from motes.compiler import converter  # noqa: E402
from motes import quant  # noqa: E402
from motes.ops.base import Layer  # noqa: E402


@pytest.fixture(scope="module")
def person():
    return api.convert(shared_model("person_detect"))


def _kinds(model_data: bytes):
    """(kind byte, layer index, const name) of every constant header, parsed like a 1.0 reader would skip."""
    model = F.from_bytes(model_data, decode=False)
    out = []
    with_consts = [i for i, p in enumerate(model.packed) if p]
    sections = [p for k, _, p in F.iter_sections(model_data) if k == F.SEC_LAYER]
    for i, payload in zip(with_consts, sections):
        r = F.Reader(payload, "test")
        for name in (n for n in F._const_names(model.layers[i].op) if n in model.packed[i]):
            kind = r.u8()
            out.append((kind, i, name))
            if not kind & F.IMPLIED_SHAPE:
                for _ in range(r.u8()):
                    r.uvarint()
            r.take(r.uvarint())
    return out


def test_compact_roundtrip_is_exact(person):
    data = person.data
    assert data[4:6] == bytes([1, 2])          # interleaved layers: format 1.2
    model = F.from_bytes(data)
    assert F.to_bytes(model) == data
    codecs_used = {pc.codec_name for p in person.model.packed for pc in p.values()}
    assert {"scales", "biaspred"} <= codecs_used
    for a, b in zip(model.layers, person.model.layers):
        assert sorted(a.consts) == sorted(b.consts)
        for name in b.consts:
            np.testing.assert_array_equal(a.consts[name], b.consts[name])
            assert a.consts[name].dtype == np.asarray(b.consts[name]).dtype


def test_compact_false_writes_the_1_0_layout():
    graph = __import__("motes.compiler.tflite_reader", fromlist=["read_tflite"]).read_tflite(
        shared_model("person_detect").read_bytes())
    model = converter.convert_graph(graph, compact=False)
    data = F.to_bytes(model)
    assert data[4:6] == bytes([1, 0])
    assert F.to_bytes(F.from_bytes(data)) == data          # a 1.1 reader keeps a 1.0 file as it is
    for kind, _, _ in _kinds(data):
        assert kind >> 4 < len(F.DTYPES) and kind & 15 < 5    # what a 1.0 reader knows
    assert {pc.codec_name for p in model.packed for pc in p.values()}.isdisjoint(F.DERIVED.values())
    graph = next(p for k, _, p in F.iter_sections(data) if k == F.SEC_GRAPH)
    assert F._encode_graph(model) == graph and not any(
        b & F.CHAIN for b in _op_bytes(F.from_bytes(data, decode=False), graph))


def _op_bytes(model, graph: bytes):
    """The op byte of every layer record in a graph section."""
    r = F.Reader(graph, "test")
    r.uvarint()
    for _ in range(2):
        for _ in range(r.uvarint()):
            r.uvarint()
    assert r.uvarint() == len(model.layers)
    out = []
    for layer in model.layers:
        b = r.u8()
        out.append(b)
        if not b & F.CHAIN:
            for _ in range(2):
                for _ in range(r.uvarint()):
                    r.uvarint()
        for name in F._param_names(layer.op):
            if name.endswith("[]"):
                for _ in range(r.uvarint()):
                    r.svarint()
            else:
                r.svarint()
        r.u8()
    assert r.done()
    return out


def test_chained_layers(person):
    model = F.from_bytes(person.data, decode=False)
    graph = next(p for k, _, p in F.iter_sections(person.data) if k == F.SEC_GRAPH)
    flags = [b & F.CHAIN for b in _op_bytes(model, graph)]
    assert all(flags)                     # person_detect is one chain: no tensor ids stored
    for a, b in zip(model.layers, person.model.layers):
        assert (a.inputs, a.outputs) == (b.inputs, b.outputs)
    # a layer off the chain keeps its ids; the ones after it chain again
    ids = [(list(L.inputs), list(L.outputs)) for L in model.layers]
    model.layers[3].inputs = [1]
    data = F.to_bytes(model)
    back = F.from_bytes(data, decode=False, check=False)     # (tensor 1 does not fit layer 3)
    graph = next(p for k, _, p in F.iter_sections(data) if k == F.SEC_GRAPH)
    flags = [b & F.CHAIN for b in _op_bytes(back, graph)]
    assert flags[3] == 0 and all(flags[:3]) and all(flags[4:])
    ids[3] = ([1], ids[3][1])
    assert [(L.inputs, L.outputs) for L in back.layers] == ids


def test_a_1_0_reader_rejects_1_1_files(person):
    """Every constant a 1.0 reader would misread carries a dtype code >= 5 or a codec >= 5,
    both of which 1.0 readers reject: implied shapes set bit 7 of the kind byte."""
    kinds = _kinds(person.data)
    model = F.from_bytes(person.data, decode=False)
    for kind, i, name in kinds:
        pc = model.packed[i][name]
        if pc.codec in F.DERIVED:
            assert kind & 15 >= 5
        if len(pc.shape) == 1 and pc.shape[0] == model.tensors[model.layers[i].outputs[0]].shape[-1]:
            assert kind >> 4 >= 8
    assert any(k >> 4 >= 8 for k, _, _ in kinds)


def test_scale_rebuild_matches_tflm_quantize_multiplier():
    rng = np.random.default_rng(5)
    for _ in range(20000):
        a, w, o = (np.float32(rng.uniform(lo, hi)) for lo, hi in ((1e-3, 1.0), (1e-6, 0.1), (1e-3, 1.0)))
        want = quant.quantize_multiplier(float(a) * float(w) / float(o))
        assert quant.multiplier_from_scale_bits(quant.f32_bits(a), quant.f32_bits(w), quant.f32_bits(o)) == want
    f32 = quant.f32_bits
    assert quant.multiplier_from_scale_bits(f32(0.5), 0, f32(0.25)) == (0, 0)           # zero scale
    sub = 0x00000123                                                                        # subnormal
    assert quant.multiplier_from_scale_bits(f32(2.0 ** 100), sub, f32(1.0)) == \
        quant.quantize_multiplier(2.0 ** 100 * float(quant.f32_from_bits(sub)))
    assert quant.multiplier_from_scale_bits(f32(1e-30), f32(1e-30), f32(1.0)) == (0, 0)   # shift < -31
    assert quant.multiplier_from_scale_bits(f32(3.0), f32(1.0), f32(1.0)) == quant.quantize_multiplier(3.0)
    for bad in (f32(-1.0), 0x7F800000, 0x7FC00000):
        with pytest.raises(ValueError):
            quant.multiplier_from_scale_bits(f32(1.0), bad, f32(1.0))
    # TFLM rounds the product to a double first: here that changes the multiplier by one
    a, w, o = 0x3df78cf3, 0x383b0eac, 0x3b9bbba9
    tflm = quant.quantize_multiplier(float(quant.f32_from_bits(a)) * float(quant.f32_from_bits(w))
                                     / float(quant.f32_from_bits(o)))
    assert tflm == (1247147341, -9)
    assert quant.multiplier_from_scale_bits(a, w, o) == (1247147340, -9)


def _fc_layer(in_bits, w_bits_list, out_bits, bias=None):
    rng = np.random.default_rng(0)
    c = len(w_bits_list)
    tensors = [F.TensorInfo((1, 8), "int8", float(quant.f32_from_bits(in_bits)), 0),
               F.TensorInfo((1, c), "int8", float(quant.f32_from_bits(out_bits)), 0, 8)]   # (apart in the arena)
    fs = np.array(w_bits_list, np.int64).astype(np.int32).view(np.float32)
    ms = [quant.quantize_multiplier(float(tensors[0].scale) * float(s) / float(tensors[1].scale)) for s in fs]
    w = rng.integers(-127, 128, size=(c, 8)).astype(np.int8)
    b = np.zeros(c, np.int32) if bias is None else bias
    layer = Layer("FULLY_CONNECTED", [0], [1], dict(input_offset=0, filter_offset=0, output_offset=0,
                                                   act_min=-128, act_max=127),
                  dict(weights=w, bias=b, multiplier=np.array([m for m, _ in ms], np.int32),
                       shift=np.array([s for _, s in ms], np.int8)), filter_scale=fs)
    return layer, tensors


def _model(layer, tensors, **pack):
    packed = [F.pack_consts(layer, tensors=tensors, **pack)]
    return F.MoteModel({}, tensors, [layer], [0], [1], 64, packed)


def test_scales_fall_back_to_explicit_where_tflm_differs():
    ok = [0x383b0eac + 977 * k for k in range(1, 17)]
    layer, tensors = _fc_layer(0x3df78cf3, ok, 0x3b9bbba9)
    good = F.pack_consts(layer, tensors=tensors)
    assert good["multiplier"].codec == F.CODEC_SCALES and "shift" not in good
    layer, tensors = _fc_layer(0x3df78cf3, ok[:8] + [0x383b0eac] + ok[9:], 0x3b9bbba9)
    bad = F.pack_consts(layer, tensors=tensors)
    assert bad["multiplier"].codec != F.CODEC_SCALES and "shift" in bad
    back = F.from_bytes(F.to_bytes(_model(layer, tensors)))
    np.testing.assert_array_equal(back.layers[0].consts["multiplier"], layer.consts["multiplier"])
    np.testing.assert_array_equal(back.layers[0].consts["shift"], layer.consts["shift"])


def test_bias_prediction_roundtrip_and_wrap():
    ws = [0x3b000000 + 12345 * k for k in range(32)]
    layer, tensors = _fc_layer(0x3c000000, ws, 0x3d000000)
    sums = F.channel_sums("FULLY_CONNECTED", layer.consts["weights"])
    layer.consts["bias"] = (-37 * sums + np.arange(32) % 3 + 2 ** 31 - 2 ** 20).astype(np.int64)
    layer.consts["bias"] = (((layer.consts["bias"] + 2 ** 31) & 0xFFFFFFFF) - 2 ** 31).astype(np.int32)
    packed = F.pack_consts(layer, tensors=tensors, biaspred_ops=("FULLY_CONNECTED",))   # readers accept it for FC
    assert packed["bias"].codec == F.CODEC_BIASPRED
    alpha, inner, _ = packed["bias"].stored()
    assert alpha == -37 * 16
    model = _model(layer, tensors, biaspred_ops=("FULLY_CONNECTED",))
    assert model.packed[0]["bias"].codec == F.CODEC_BIASPRED
    back = F.from_bytes(F.to_bytes(model))
    np.testing.assert_array_equal(back.layers[0].consts["bias"], layer.consts["bias"])


def _rewrite_layer(data: bytes, mutate) -> bytes:
    """Apply mutate(model) to a decoded-free model and write it again."""
    model = F.from_bytes(data, decode=False)
    mutate(model)
    return F.to_bytes(model)


@pytest.mark.parametrize("case,message", [
    ("scales_in_bias", "derived constant \\(codec 5\\) in the wrong place"),
    ("biaspred_in_multiplier", "derived constant \\(codec 6\\) in the wrong place"),
    ("scales_with_shift", "derived constant \\(codec 5\\) in the wrong place"),
    ("huffman_inner", "not an int32 codec"),
    ("negative_scale", "cannot rebuild"),
    ("unknown_codec", "codec 7 is unknown"),
])
def test_bad_derived_constants_are_rejected(person, case, message):
    def mutate(model):
        i = next(k for k, p in enumerate(model.packed) if p.get("bias") is not None
                 and p["bias"].codec == F.CODEC_BIASPRED and p["multiplier"].codec == F.CODEC_SCALES)
        p = model.packed[i]
        if case == "scales_in_bias":
            p["bias"] = F.PackedConst(F.CODEC_SCALES, "int32", p["bias"].shape, p["multiplier"].payload)
        elif case == "biaspred_in_multiplier":
            p["multiplier"] = F.PackedConst(F.CODEC_BIASPRED, "int32", p["multiplier"].shape, p["bias"].payload)
        elif case == "scales_with_shift":
            p["shift"] = F.PackedConst(0, "int8", p["multiplier"].shape, bytes(p["multiplier"].count))
        elif case == "huffman_inner":
            p["multiplier"].payload = bytes([1]) + p["multiplier"].payload[1:]
        elif case == "negative_scale":
            n = p["multiplier"].count
            p["multiplier"].payload = bytes([0]) + np.full(n, -1.0, np.float32).tobytes()
        elif case == "unknown_codec":
            p["bias"].codec = 7
    data = _rewrite_layer(person.data, mutate)
    with pytest.raises(F.FormatError, match=message):
        F.from_bytes(data)


# ---- format 1.2: interleaved FULLY_CONNECTED / CONV_2D weights ------------------------

from motes.compiler import interleave as IL  # noqa: E402
from motes.run.executor import Executor  # noqa: E402
from motes.compiler.tflite_reader import read_tflite  # noqa: E402


def _convert(name, **opts):
    graph = read_tflite(shared_model(name).read_bytes())
    graph.name = name
    return converter.convert_graph(graph, **opts)


def _graph_op_bytes(data: bytes) -> list[int]:
    graph = next(p for k, _, p in F.iter_sections(data) if k == F.SEC_GRAPH)
    return _op_bytes(F.from_bytes(data, decode=False), graph)


@pytest.mark.parametrize("name", ["person_detect", "mlperf_tiny_kws_ref_model", "hello_world_int8"])
def test_interleaved_roundtrip(name):
    plain = _convert(name, interleave=False)
    model = _convert(name)
    data = F.to_bytes(model)
    assert data[4:6] == bytes([1, 2])
    back = F.from_bytes(data)
    assert F.to_bytes(back) == data
    flags = [b & F.INTERLEAVED for b in _graph_op_bytes(data)]
    assert [bool(f) for f in flags] == [L.interleaved for L in back.layers]
    n = 0
    for a, ref in zip(back.layers, plain.layers):
        if ref.op not in IL.OPS:
            assert not a.interleaved
            continue
        assert a.interleaved             # every FC / CONV_2D of these models qualifies
        n += 1
        w, b = ref.consts["weights"], ref.consts.get("bias")
        assert a.consts["weights"].shape == w.shape and a.consts["weights"].dtype == np.int8
        np.testing.assert_array_equal(a.consts["weights"], IL.interleave_weights(w))
        # the stored order, spelled out: offset of W[o, k] = 8 * g * depth + k * R_g + r
        out, depth = w.shape[0], w.size // w.shape[0]
        flat, wm = a.consts["weights"].reshape(-1), w.reshape(out, depth)
        for o in {0, out - 1, out // 2}:
            g, r = o >> 3, o & 7
            rg = min(8, out - 8 * g)
            np.testing.assert_array_equal(flat[8 * g * depth + np.arange(depth) * rg + r], wm[o])
        if a.op == "FULLY_CONNECTED":      # the input offset folded in
            want = IL.fold_bias(b, w, ref.params["input_offset"])
            assert a.consts["bias"].dtype == np.int32
            np.testing.assert_array_equal(a.consts["bias"], want)
        elif b is None:                     # CONV_2D: TFLite's bias as it is
            assert "bias" not in a.consts or a.consts["bias"] is None
        else:
            np.testing.assert_array_equal(a.consts["bias"], b)
        for k in ("multiplier", "shift"):
            np.testing.assert_array_equal(a.consts[k], ref.consts[k])
        back_row = IL.deinterleave_layer(a)
        np.testing.assert_array_equal(back_row.consts["weights"], w)
        if b is not None or a.op == "FULLY_CONNECTED":
            np.testing.assert_array_equal(back_row.consts["bias"], np.zeros(out, np.int32) if b is None else b)
    assert n >= 3
    for i, p in enumerate(back.packed):          # the writer never predicts an interleaved bias
        if back.layers[i].interleaved and "bias" in p:
            assert p["bias"].codec != F.CODEC_BIASPRED
    # the executor runs the interleaved file exactly as the row-major one
    rng = np.random.default_rng(1)
    shape = back.tensors[back.inputs[0]].shape
    ex, ex_plain = Executor(back), Executor(F.from_bytes(F.to_bytes(plain)))
    for _ in range(3):
        x = rng.integers(-128, 128, size=shape, dtype=np.int8)
        np.testing.assert_array_equal(ex.run([x])[0], ex_plain.run([x])[0])


def test_minor_version_is_the_lowest_needed():
    plain = _convert("mlperf_tiny_kws_ref_model", interleave=False)
    data = F.to_bytes(plain)
    assert data[4:6] == bytes([1, 1]) and not any(L.interleaved for L in plain.layers)
    assert not any(b & F.INTERLEAVED for b in _graph_op_bytes(data))
    back = F.from_bytes(data)
    assert back.minor == 1 and F.to_bytes(back) == data       # a 1.1 file reads and writes back as it is
    # micro_speech's only FC has a group of 4 * 4000 bytes > INTERLEAVE_MAX_GROUP: row-major; with its
    # depthwise stem as it is, a 1.1 file; written as the CONV_2D it is (the default), that is interleaved: 1.2
    ms = _convert("micro_speech_quantized")
    fc = next(L for L in ms.layers if L.op == "FULLY_CONNECTED")
    assert IL.group_bytes(fc) > converter.group_limit(ms.arena_size) and not fc.interleaved
    assert [L.op for L in ms.layers if L.interleaved] == ["CONV_2D"] and F.to_bytes(ms)[4:6] == bytes([1, 2])
    ms = _convert("micro_speech_quantized", options=converter.ConvertOptions(dw_as_conv=False))
    assert not any(L.interleaved for L in ms.layers) and F.to_bytes(ms)[4:6] == bytes([1, 1])
    assert converter.DEFAULTS.interleave_max_group is None and IL.MAX_GROUP_BYTES == 4096
    assert converter.group_limit(5960) == 4096 and converter.group_limit(49152) == 12288
    # the 1.0 layout cannot hold interleaved layers
    assert F.to_bytes(_convert("hello_world_int8", compact=False))[4:6] == bytes([1, 0])
    with pytest.raises(ValueError, match="1.0 layout"):
        _convert("hello_world_int8", compact=False, interleave=True)
    model = _convert("hello_world_int8")
    model.minor = 0
    with pytest.raises(F.FormatError, match="1.0 layout"):
        F.to_bytes(model)


def test_interleave_respects_the_group_limit():
    plain = _convert("person_detect", interleave=False)
    model = _convert("person_detect", options=converter.ConvertOptions(interleave_max_group=1024))
    big = [L for L in model.layers if L.op in IL.OPS and IL.group_bytes(L) > 1024]
    small = [L for L in model.layers if L.op in IL.OPS and IL.group_bytes(L) <= 1024]
    assert big and small
    assert not any(L.interleaved for L in big) and all(L.interleaved for L in small)
    back = F.from_bytes(F.to_bytes(model))
    for a, ref in zip(back.layers, plain.layers):
        if not a.interleaved:
            for k in ref.consts:
                np.testing.assert_array_equal(a.consts[k], ref.consts[k])
    x = np.random.default_rng(2).integers(-128, 128, size=back.tensors[back.inputs[0]].shape, dtype=np.int8)
    np.testing.assert_array_equal(Executor(back).run([x])[0],
                                  Executor(F.from_bytes(F.to_bytes(plain))).run([x])[0])


def _fc_model(out: int, depth: int, input_offset: int = 5):
    rng = np.random.default_rng(out)
    tensors = [F.TensorInfo((1, depth), "int8", 0.05, -input_offset, 0),
               F.TensorInfo((1, out), "int8", 0.1, 3, depth)]
    w = rng.integers(-127, 128, size=(out, depth)).astype(np.int8)
    b = rng.integers(-5000, 5000, size=out).astype(np.int32)
    mult = np.full(out, 1 << 30, np.int32)
    shift = np.full(out, -4, np.int8)
    layer = Layer("FULLY_CONNECTED", [0], [1], dict(input_offset=input_offset, filter_offset=0,
                                                   output_offset=3, act_min=-128, act_max=127),
                  dict(weights=w, bias=b, multiplier=mult, shift=shift))
    return layer, tensors


@pytest.mark.parametrize("out", [1, 8, 13, 21])
def test_fc_interleaved_with_a_short_last_group(out):
    layer, tensors = _fc_model(out, 11)
    il = IL.interleave_layer(layer)
    model = F.MoteModel({}, tensors, [il], [0], [1], 64, [F.pack_consts(il, tensors=tensors)])
    data = F.to_bytes(model)
    assert data[4:6] == bytes([1, 2])
    back = F.from_bytes(data)
    assert back.layers[0].interleaved
    np.testing.assert_array_equal(back.layers[0].consts["weights"], IL.interleave_weights(layer.consts["weights"]))
    np.testing.assert_array_equal(back.layers[0].consts["bias"],
                                  IL.fold_bias(layer.consts["bias"], layer.consts["weights"], 5))
    # the last group holds out % 8 channels (or 8), stored input-major
    g0 = (out - 1) // 8 * 8
    last = back.layers[0].consts["weights"].reshape(-1)[g0 * 11:].reshape(11, out - g0)
    np.testing.assert_array_equal(last, layer.consts["weights"][g0:].T)
    rng = np.random.default_rng(3)
    plain = F.MoteModel({}, tensors, [layer], [0], [1], 64, [F.pack_consts(layer, tensors=tensors)])
    for _ in range(5):
        x = rng.integers(-128, 128, size=(1, 11), dtype=np.int8)
        np.testing.assert_array_equal(Executor(back).run([x])[0], Executor(plain).run([x])[0])


def _hello_fc(model):
    return next(i for i, L in enumerate(model.layers) if L.op == "FULLY_CONNECTED" and L.interleaved)


@pytest.mark.parametrize("case,message", [
    ("depthwise", r"DEPTHWISE_CONV_2D\) has the interleaved bit, which only FULLY_CONNECTED and CONV_2D"),
    ("weights_int16", r"is interleaved but its weights are not int8"),
    ("no_bias", r"is interleaved but it has no bias"),
    ("bias_int16", r"is interleaved but its bias is int16, not int32"),
    ("biaspred", r"is interleaved but its bias is biaspred \(codec 6\)"),
    ("filter_offset", r"FULLY_CONNECTED\) is interleaved but filter_offset is 3, not 0"),
    ("grouped", r"CONV_2D\) is interleaved but its weights have .* input channels for an input of"),
    ("minor_1", r"is interleaved but the file is version 1\.1"),
])
def test_bad_interleaved_layers_are_rejected(person, hello, case, message):
    src = person.data if case in ("depthwise", "grouped") else hello.data

    def mutate(model):
        if case == "depthwise":
            model.layers[next(i for i, L in enumerate(model.layers) if L.op == "DEPTHWISE_CONV_2D")].interleaved = True
            return
        if case == "grouped":
            i = next(i for i, L in enumerate(model.layers) if L.op == "CONV_2D" and L.interleaved
                     and model.packed[i]["weights"].shape[-1] > 1)
            o, kh, kw, c = model.packed[i]["weights"].shape
            model.packed[i]["weights"].shape = (o, kh, kw * c // 2 if kw * c % 2 == 0 else kw * c, 2 if kw * c % 2 == 0 else 1)
            return
        i = _hello_fc(model)
        p = model.packed[i]
        if case == "weights_int16":
            p["weights"] = F.PackedConst(0, "int16", p["weights"].shape, bytes(2 * p["weights"].count))
        elif case == "no_bias":
            del p["bias"]
        elif case == "bias_int16":
            p["bias"] = F.PackedConst(0, "int16", p["bias"].shape, bytes(2 * p["bias"].count))
        elif case == "biaspred":
            p["bias"] = F.PackedConst(F.CODEC_BIASPRED, "int32", p["bias"].shape, bytes([0, 0]) + bytes(4 * p["bias"].count))
        elif case == "filter_offset":
            model.layers[i].params["filter_offset"] = 3
    data = _rewrite_layer(src, mutate)
    if case == "minor_1":
        data = _fix_crc(data[:5] + bytes([1]) + data[6:])
    with pytest.raises(F.FormatError, match=message):
        F.from_bytes(data)


def test_interleaved_conv_keeps_an_optional_unfolded_bias(person):
    """CONV_2D interleaves its weights only: TFLite's bias, which may be absent."""
    model = F.from_bytes(person.data)
    i = next(k for k, L in enumerate(model.layers) if L.op == "CONV_2D" and L.interleaved)
    del model.packed[i]["bias"]
    model.layers[i].consts.pop("bias")
    back = F.from_bytes(F.to_bytes(model))
    assert back.layers[i].interleaved and "bias" not in back.packed[i]
    row = F.from_bytes(F.to_bytes(model))
    row.layers[i] = IL.deinterleave_layer(row.layers[i])
    assert not row.layers[i].interleaved
    row.packed[i] = F.pack_consts(row.layers[i])
    row = F.from_bytes(F.to_bytes(row))
    x = np.random.default_rng(3).integers(-128, 128, back.tensors[back.inputs[0]].shape).astype(np.int8)
    np.testing.assert_array_equal(Executor(back).run([x])[0], Executor(row).run([x])[0])


def test_device_names_are_generated_and_fresh():
    # the format's numbers that device modules name (_OP_*, _CODEC_*, _SLOT_*, ...) come
    # from the host's tables, as const() in a block of each module that names them (make format-doc),
    # and kernels._PY from the OPS of the k_*.py files
    device = ROOT / "device" / "motes"
    names = F.device_names()
    blocks = 0
    for path in sorted(device.glob("*.py")):
        text = path.read_text()
        if F.GENERATED_BEGIN in text:
            blocks += 1
            assert F.device_names_block(text, device) == text, f"{path.name}: run 'make format-doc'"
        else:
            used = set(re.findall(r"\b_[A-Z][A-Z0-9_]*\b", text)) & set(names)
            assert not used, f"{path.name} names {sorted(used)} without the generated block"
    assert blocks >= 3         # kernels.py (_PY), reader.py, verify.py
    # the verifier's op sets as masks, bit n for op id n: small ints on a 32-bit board
    from motes.mote import ALIAS_OPS, CONST_INPUT_OPS, ONE_TO_ONE_OPS
    for name, ops in (("_ALIAS_OPS", ALIAS_OPS), ("_CONST_INPUT_OPS", CONST_INPUT_OPS),
                      ("_ONE_TO_ONE_OPS", ONE_TO_ONE_OPS)):
        assert names[name] == sum(1 << names[f"_OP_{op}"] for op in ops) < 1 << 30
    assert names["_OP_CONV_2D"] | names["_INTERLEAVED"] == 65 and names["_CODEC_SCALES"] == 5
    kernels = (device / "kernels.py").read_text()
    assert "_PY = 'fc conv dwconv pool pool shape softmax act act elem elem mean " in kernels


def test_native_param_layout_is_the_one_modmotes_c_reads():
    # the native layer calls' p (fc, conv, dwconv, pool): host/motes/mote/gen.py's
    # NATIVE_HEAD and NATIVE_OPS are the layout's one source, k_native names its indices
    # from them (_P_*, generated), and ulab_kernels/modmotes.c must read the same places
    from motes import ops
    from motes.mote import gen
    P = gen.native_params()
    c = (ROOT / "ulab_kernels" / "modmotes.c").read_text()
    h = (ROOT / "ulab_kernels" / "motes_kernels.h").read_text()
    head = P["_P_HEAD"]

    def fields(struct):     # the int32_t fields of a motes_kernels.h struct, in order
        body = re.search(r"typedef struct \{([^}]*)\} %s;" % struct, h).group(1)
        body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
        return re.findall(r"(\w+)\s*[,;]", " ".join(d.split("int32_t", 1)[1] for d in body.split("\n")
                                                       if "int32_t" in d and "*" not in d.split("int32_t", 1)[1]))

    assert f"#define HEAD {head}\n" in c
    for short, n in (("FC", "N_FC"), ("CONV", "N_CONV"), ("DW", "N_DW"), ("POOL", "N_POOL")):
        assert f"#define {n} (HEAD + {P[f'_P_{short}_END'] - head})\n" in c, n
    # head(): offsets and the three dims
    # (read in place: mk_dims is four int32 fields, n h w c, as p holds them)
    assert fields("mk_dims") == ["n", "h", "w", "c"]
    for name, field in (("IN_N", "in"), ("OUT_N", "out"), ("ROWS", "filter")):
        assert f"h->{field} = (const mk_dims *)(p + {P['_P_' + name]});" in c
    assert f"h->src = s + p[{P['_P_SRC']}];" in c and f"h->dst = d + p[{P['_P_DST']}];" in c
    # FULLY_CONNECTED: mk_fc_params is the params in file order, the chunk's first channel, interleaved
    fc = ops.OPS["FULLY_CONNECTED"].PARAMS
    assert fields("mk_fc_params") == list(fc) + ["out_ch_start", "interleaved"]
    init = ", ".join(f"p[{P['_P_FC_' + n.upper()]}]" for n in fc)
    assert f"mk_fc_params fp = {{{init}, p[{P['_P_ROW0']}], flag(p[{P['_P_FC_INTERLEAVED']}]),\n" in c
    # CONV_2D and DEPTHWISE_CONV_2D (conv_params: q = p + HEAD, the depth multiplier after the pads)
    conv, dw = ops.OPS["CONV_2D"].PARAMS, ops.OPS["DEPTHWISE_CONV_2D"].PARAMS
    assert fields("mk_conv_params") == list(conv) + ["depth_multiplier", "out_ch_start", "interleaved"]
    assert [n for n in dw if n != "depth_multiplier"] == list(conv)
    k = P["_P_DW_DEPTH_MULTIPLIER"] - head
    assert f"f[k] = q[k + (dw && k >= {k})];" in c and f"cp->depth_multiplier = dw ? q[{k}] : 1;" in c
    assert f"cp->out_ch_start = dw ? 0 : p[{P['_P_ROW0']}];" in c
    assert f"flag(p[HEAD + {P['_P_CONV_INTERLEAVED'] - head}])" in c
    # pools: mk_pool_params is the params in file order, then 1 for AVERAGE_POOL_2D
    pool = ops.OPS["AVERAGE_POOL_2D"].PARAMS
    assert ops.OPS["MAX_POOL_2D"].PARAMS == pool and fields("mk_pool_params") == list(pool)
    assert "const mk_pool_params *pp = (const mk_pool_params *)q;" in c      # read in place
    assert f"flag(q[{P['_P_POOL_AVERAGE'] - head}])" in c and f"by p[{P['_P_POOL_AVERAGE']}]" in c
    # the top comment's head
    assert f"`p` starts with a {head}-int head" in c and f"p[{P['_P_ROW0']}]    first output channel" in c
    # k_native names what it sets and reads (no bare indices past the head's start)
    native = (ROOT / "device" / "motes" / "k_native.py").read_text()
    assert not re.findall(r"\bp\[\d+\]", native)
