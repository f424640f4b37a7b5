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
