"""The device runtime under real CircuitPython (its unix port, ../shared/circuitpython):
no native emitter, every array store range-checked, 32-bit floats in the
float32 build. Every shared model bit-exact with the host executor, in
resident and streaming mode, on the pure-Python kernels CircuitPython gets."""
from __future__ import annotations

import os

import numpy as np
import pytest

from conftest import ROOT, SHARED_MODELS, missing_tool, shared_model
from motes import api, mpy_engine
from motes.executor import Executor
from motes.format import from_bytes

CP = ROOT.parent / "shared" / "circuitpython"


def _exe(name):
    exe = CP / name
    if not exe.exists():
        missing_tool(f"CircuitPython's unix port ({exe}) is missing: the tests need ../shared/circuitpython")
    if not os.access(exe, os.X_OK):
        pytest.fail(f"{exe} is not executable")
    return str(exe)


@pytest.mark.parametrize("exe", ["circuitpython", "circuitpython-float32"])
@pytest.mark.parametrize("name", SHARED_MODELS)
def test_every_model_bit_exact_under_circuitpython(tmp_path, exe, name):
    exe = _exe(exe)
    conv = api.convert(shared_model(name))
    path = tmp_path / "m.mote"
    path.write_bytes(conv.data)
    model = from_bytes(conv.data)
    shape = model.tensors[model.inputs[0]].shape
    xs = [np.random.default_rng(11).integers(-128, 128, size=shape, dtype=np.int8)]
    ref = Executor(model).run([xs[0]])[0].ravel()
    modes = ["streaming"] if name == "person_detect" else ["resident", "streaming"]
    for mode in modes:
        info = mpy_engine.run(path, xs, heap="1M", mode=mode, source=True, measure=False, exe=exe)
        assert info["backend"] == "python" and info["mode"] == mode
        np.testing.assert_array_equal(info["outputs"][0].ravel(), ref)
