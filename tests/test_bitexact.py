"""motes vs TensorFlow Lite Micro, end to end through the .mote file.

Each model is converted, written to bytes, read back and run by the arena
executor; outputs must equal TFLM's (the `tflite-micro` interpreter, reference
kernels) element for element. Goldens come from TFLM at test time.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED, SHARED_MODELS, shared_model
from motes import api
from motes.compare import compare, random_inputs
from motes.format import from_bytes
from tests import opmodels

N_RANDOM = 50


def _roundtrip(path):
    conv = api.convert(path)
    return conv, from_bytes(conv.data)


@pytest.mark.parametrize("name", SHARED_MODELS)
def test_shared_model_bitexact(name):
    conv, model = _roundtrip(shared_model(name))
    result = compare(conv.tflite, conv.data, random_inputs(model, N_RANDOM, seed=1))
    assert result["n"] == N_RANDOM
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
    result = compare(conv.tflite, conv.data, random_inputs(model, N_RANDOM, seed=2))
    assert result["mismatches"] == 0, result
