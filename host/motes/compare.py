"""motes vs TensorFlow Lite Micro on the same int8 inputs: count what differs."""
from __future__ import annotations

import numpy as np

from .api import dequantize, quantize_input
from .executor import Executor
from .format import MoteModel
from .oracle import TflmInterpreter
from .tflite_reader import read_tflite


def random_inputs(model: MoteModel, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = model.tensors[model.inputs[0]].shape
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]


def compare(tflite_bytes: bytes, model: MoteModel, inputs: list[np.ndarray], engine: str = "numpy") -> dict:
    """Run every int8 input through TFLM and through motes; report element mismatches."""
    graph = read_tflite(tflite_bytes)
    t_in, t_out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    m_in, m_out = model.tensors[model.inputs[0]], model.tensors[model.outputs[0]]
    oracle = TflmInterpreter(tflite_bytes)
    if engine != "numpy":
        raise ValueError(f"engine {engine!r} is not available; use 'numpy'")
    ex = Executor(model)
    mismatches = elements = max_diff = 0
    for x in inputs:
        x = np.asarray(x, dtype=np.int8).reshape(m_in.shape)
        fed = dequantize(x, m_in.scale, m_in.zero_point) if t_in.dtype == "float32" else x
        ref = oracle.run([fed.reshape(t_in.shape)])[0]
        if t_out.dtype == "float32":  # DEQUANTIZE at the edge: back to the exact int8 values
            ref = quantize_input(ref, m_out.scale, m_out.zero_point)
        got = ex.run([x])[0]
        diff = np.abs(ref.astype(np.int32).ravel() - got.astype(np.int32).ravel())
        mismatches += int((diff != 0).sum())
        elements += diff.size
        max_diff = max(max_diff, int(diff.max(initial=0)))
    return dict(n=len(inputs), elements=elements, mismatches=mismatches, max_abs_diff=max_diff, engine=engine)
