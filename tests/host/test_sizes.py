"""Compression on real models: file size against .tflite and packed weights
against their order-0 entropy (plus code tables). Figures: bench/sizes.py."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_model
from motes import api, codecs
from motes.run import report
from motes import format as F
from motes.compiler.converter import convert_graph
from motes.format import to_bytes
from motes.compiler.tflite_reader import read_tflite


# .mote bytes / .tflite bytes required by issue #2
TARGETS = {"micro_speech_quantized": 0.78, "mlperf_tiny_kws_ref_model": 0.47, "hello_world_int8": 0.40}


def _summary(name, **opts):
    conv = api.convert(shared_model(name), **opts)
    return report.summary(conv.model, len(conv.data), len(conv.tflite))


@pytest.mark.parametrize("name,target", sorted(TARGETS.items()))
def test_size_target(name, target):
    # the default file (format 1.2, interleaved where it can) and the row-major 1.1 file
    assert _summary(name)["ratio"] <= target
    assert _summary(name, interleave=False)["ratio"] <= target


def test_person_detect_size():
    # Issue #2 asks for <= 0.70. Weights are within 0.7% of their entropy; format
    # 1.1 stores filter scales instead of multipliers and shifts and predicts
    # biases from the weight sums (docs/FORMAT.md, derived constants).
    # Format 1.2 interleaves the conv weights (same entropy) and keeps their biases
    # unfolded, so it costs nothing here.
    info = _summary("person_detect")
    assert info["ratio"] <= 0.70, info["file_bytes"]
    assert info["interleaved_layers"] >= 10
    assert _summary("person_detect", interleave=False)["ratio"] <= 0.70


@pytest.mark.parametrize("name", ["person_detect", "micro_speech_quantized", "mlperf_tiny_kws_ref_model",
                                  "hello_world_int8"])
def test_weights_near_entropy_bound(name):
    info = _summary(name)
    bound = info["entropy_bound_bytes"] + info["table_bytes"]
    assert info["weights_packed_bytes"] <= 1.02 * bound, (info["weights_packed_bytes"], bound)


def test_pruned_model_beats_one_bit_per_weight():
    """Magnitude-prune a real model to 85% zero weights: the sparse codec must get
    within 5% of the entropy bound, where plain Huffman cannot go below 1 bit/weight."""
    graph = read_tflite(shared_model("mlperf_tiny_kws_ref_model"))
    for t in graph.tensors:
        if t.is_const and t.dtype == "int8":
            cut = np.quantile(np.abs(t.data.astype(np.int16)), 0.85)
            t.data = np.where(np.abs(t.data.astype(np.int16)) <= cut, 0, t.data).astype(np.int8)
    model = convert_graph(graph)
    info = report.summary(model, len(to_bytes(model)))
    zeros = sum(int((L.consts["weights"] == 0).sum()) for L in model.layers if "weights" in L.consts)
    assert zeros >= 0.8 * info["weights"]
    bound = info["entropy_bound_bytes"] + info["table_bytes"]
    assert info["weights_packed_bytes"] <= 1.05 * bound, (info["weights_packed_bytes"], bound)
    huffman = codecs.by_name("huffman")
    plain = sum(len(huffman.encode(L.consts["weights"].ravel())) for L in model.layers if "weights" in L.consts)
    assert info["weights_packed_bytes"] < 0.9 * plain
    assert "zerorun" in {c for r in info["layers"] for c in r["codecs"]}
    # and it still decodes to exactly the pruned weights
    from motes.format import from_bytes
    back = from_bytes(to_bytes(model))
    for a, b in zip(back.layers, model.layers):
        for k in b.consts:
            np.testing.assert_array_equal(a.consts[k], b.consts[k])


def test_codec_choice_is_smallest():
    conv = api.convert(shared_model("micro_speech_quantized"))
    for layer, packed in zip(conv.model.layers, conv.model.packed):
        for name, pc in packed.items():
            if pc.codec in F.DERIVED:      # the wrapped int32 payload is the smallest for its values
                alpha, inner, values = pc.stored()
                inner_len = len(pc.payload) - 1 - (0 if alpha is None else len(_svarint(alpha)))
                candidates = values
            else:
                inner_len, candidates = len(pc.payload), layer.consts[name].ravel()
            for codec in codecs.CODECS.values():
                if codec.supports(candidates.dtype):
                    assert inner_len <= len(codec.encode(candidates))


def _svarint(v):
    out = bytearray()
    F.put_svarint(out, v)
    return bytes(out)


@pytest.mark.parametrize("name", ["person_detect", "mlperf_tiny_kws_ref_model"])
def test_derived_encodings_pay_off(name):
    """Filter scales (codec 5) and predicted biases (codec 6) are used, and only where smaller."""
    from motes.compiler import converter
    conv = api.convert(shared_model(name), options=converter.ConvertOptions(derived_min_saving=0))
    used = set()
    for layer, packed in zip(conv.model.layers, conv.model.packed):
        plain = F.pack_consts(layer)            # no tensor table: the 1.0 encodings only
        for name_, pc in packed.items():
            used.add(pc.codec_name)
        if "multiplier" in packed and packed["multiplier"].codec == F.CODEC_SCALES:
            assert "shift" not in packed
            new = len(F._const_header(packed["multiplier"], None)) + len(packed["multiplier"].payload)
            assert new < sum(len(F._const_header(plain[n], None)) + len(plain[n].payload)
                             for n in ("multiplier", "shift"))
        if "bias" in packed and packed["bias"].codec == F.CODEC_BIASPRED:
            assert len(packed["bias"].payload) < len(plain["bias"].payload)
            assert layer.op in F.BIASPRED_WRITE_OPS   # a streaming device gets the sums for free there
    assert {"scales", "biaspred"} <= used


def test_derived_encodings_only_where_they_save_a_kilobyte():
    """A streaming board keeps the code that rebuilds derived constants (about 2 KB of
    heap): the converter uses them only when they save ConvertOptions.derived_min_saving bytes."""
    from motes.compiler import converter
    derived = lambda conv: {pc.codec_name for p in conv.model.packed for pc in p.values()} & {"scales", "biaspred"}  # noqa: E731
    assert converter.DEFAULTS.derived_min_saving == 1024
    assert derived(api.convert(shared_model("person_detect")))
    kws = api.convert(shared_model("mlperf_tiny_kws_ref_model"))
    assert not derived(kws) and kws.data[5] == 2          # format 1.2: interleaved layers
    kws = api.convert(shared_model("mlperf_tiny_kws_ref_model"), interleave=False)
    assert not derived(kws) and kws.data[5] == 1          # format 1.1: chained layers, [C] shapes
    assert len(kws.data) / len(kws.tflite) <= 0.468


def test_inspect_names_every_output_of_a_model_with_several(opmodel_cache):
    from tests import opmodels
    conv = api.convert(opmodels.build("fc_two_heads", opmodel_cache))
    info = report.summary(conv.model, len(conv.data))
    assert [o["shape"] for o in info["outputs"]] == [list(conv.model.tensors[t].shape) for t in conv.model.outputs]
    table = report.format_table(info)
    assert "outputs   2: 0 " in table and "net.output(k)" in table
    assert "outputs " not in report.format_table(_summary("hello_world_int8"))   # one output: no line
