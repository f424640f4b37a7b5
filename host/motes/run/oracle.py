"""TensorFlow Lite Micro's own interpreter (PyPI `tflite-micro`): the reference
that motes must match bit for bit. Only `motes compare` and the tests use it."""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from ..compiler.tflite_reader import read_tflite


class TflmInterpreter:
    def __init__(self, tflite_bytes: bytes):
        try:
            from tflite_micro import runtime
        except ImportError as e:
            raise ModelError("the TFLM reference needs the 'tflite-micro' package: "
                             "pip install --pre tflite-micro") from e
        graph = read_tflite(tflite_bytes)
        self.n_outputs = len(graph.outputs)
        self.input_dtypes = [graph.tensors[i].dtype for i in graph.inputs]
        self._it = runtime.Interpreter.from_bytes(bytes(tflite_bytes))

    def run(self, inputs) -> list[np.ndarray]:
        for i, x in enumerate(inputs):
            self._it.set_input(np.ascontiguousarray(x, dtype=self.input_dtypes[i]), i)
        self._it.invoke()
        return [self._it.get_output(i).copy() for i in range(self.n_outputs)]
