"""The device runtime in the real MicroPython unix port against TFLM's
interpreter (tflite-micro): every output element must match, on the four
shared models, with each backend (native C module, viper, pure Python), in
resident and streaming mode, with the .mote as the host tool writes it
(entropy-coded weights decoded on the device)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED, shared_model
from motes import api
from motes.run.compare import compare, random_inputs
from motes.format import from_bytes

N = 20
# heap per model and mode: like a board's, with room for the pure-Python runtime
HEAPS = {
    "hello_world_int8": {"resident": "64K", "streaming": "64K"},
    "micro_speech_quantized": {"resident": "128K", "streaming": "128K"},
    "mlperf_tiny_kws_ref_model": {"resident": "256K", "streaming": "192K"},
    "person_detect": {"resident": "1M", "streaming": "256K"},
}


def _inputs(name, model):
    xs = random_inputs(model, N, seed=11)
    if name == "person_detect":
        for image in ("person", "no_person"):
            raw = (SHARED / "testdata" / "person_detection" / f"{image}_96x96_u8_topdown.raw").read_bytes()
            xs.append(np.frombuffer(raw, dtype=np.int8))
    return xs


@pytest.mark.parametrize("backend", ["native", "viper", "python"])
@pytest.mark.parametrize("mode", ["resident", "streaming"])
@pytest.mark.parametrize("name", sorted(HEAPS))
def test_device_matches_tflm(name, mode, backend):
    conv = api.convert(shared_model(name))
    model = from_bytes(conv.data)
    heap = HEAPS[name][mode]
    if backend == "viper" and name == "person_detect" and mode == "resident":
        heap = "2M"   # resident person_detect: 288 KB of constants plus viper's own buffers
    result = compare(conv.tflite, conv.data, _inputs(name, model), engine="micropython",
                     heap=heap, mode=mode, backend=backend)
    assert result["engine"] == "micropython" and result["mode"] == mode
    assert result["backend"] == backend
    assert result["n"] >= N
    assert result["mismatches"] == 0, result
