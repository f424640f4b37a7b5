"""motes.api helpers that must match TFLM's arithmetic exactly."""
from __future__ import annotations

import numpy as np

from motes.api import quantize_input


def test_quantize_input_rounds_like_tflm():
    # TFLM: round(x / scale) in float32, halves away from zero, then + zero point, clamped
    x = np.array([0.49999997, -0.49999997, 0.5, -0.5, 1.5, -2.5, 2.4999998, 1e6, -1e6], np.float32)
    assert quantize_input(x, 1.0, 0).tolist() == [0, 0, 1, -1, 2, -3, 2, 127, -128]
    assert quantize_input(np.float32([0.0]), 0.5, -128).tolist() == [-128]
    # the division is float32: x / scale rounded to float32 before rounding to an integer
    rng = np.random.default_rng(0)
    xs = rng.normal(0, 3, 10000).astype(np.float32)
    s = np.float32(0.0247)
    q = (xs / s).astype(np.float32).astype(np.float64)
    want = np.clip(np.sign(q) * np.floor(np.abs(q) + 0.5) + 3, -128, 127)    # exact in float64
    assert (quantize_input(xs, s, 3) == want).all()


def test_convert_interleave_option_runs_the_same():
    """api.convert interleaves by default (format 1.2); interleave=False gives a 1.1 file.
    api.run gives the same outputs for both, and the in-memory model (weights interleaved)
    runs like the file read back."""
    from conftest import shared_model
    from motes import api
    from motes.format import from_bytes
    new = api.convert(shared_model("hello_world_int8"))
    old = api.convert(shared_model("hello_world_int8"), interleave=False)
    assert new.data[5] == 2 and old.data[5] == 1
    assert all(L.interleaved for L in new.model.layers) and not any(L.interleaved for L in old.model.layers)
    xs = np.linspace(0, 6.28, 25, dtype=np.float32)
    for x in xs:
        want = api.run(from_bytes(old.data), np.array([[x]]))[0]
        assert np.array_equal(api.run(from_bytes(new.data), np.array([[x]]))[0], want)
        assert np.array_equal(api.run(new.model, np.array([[x]]))[0], want)
    assert all(L.interleaved for L in new.model.layers)     # running it left the model as stored
