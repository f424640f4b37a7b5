"""The in-memory model graph that every part of the host tooling shares.

A `Graph` is what the `.tflite` reader produces and what the per-op `prepare`
functions consume: tensors (shape, type, quantization, constant data) and
operators (opcode name, tensor indices, builtin options as a plain dict).
Nothing here knows about TFLite flatbuffers or the `.mote` format.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class ModelError(ValueError):
    """A model cannot be read or converted; the message says what and how to fix it."""


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple
    dtype: str                      # numpy dtype name: 'int8', 'int32', 'float32', ...
    scale: np.ndarray | None = None       # float32 [n]; n > 1 for per-channel
    zero_point: np.ndarray | None = None  # int64 [n]
    quantized_dimension: int = 0
    data: np.ndarray | None = None        # constant buffer, already shaped

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def per_channel(self) -> bool:
        return self.scale is not None and len(self.scale) > 1

    def qparams(self) -> tuple[float, int]:
        """Per-tensor (scale, zero_point); raises if the tensor is not quantized that way."""
        if self.scale is None or len(self.scale) != 1:
            raise ModelError(f"tensor {self.name!r} must have one (per-tensor) scale and zero point")
        return float(self.scale[0]), int(self.zero_point[0])


@dataclass
class Operator:
    index: int
    opcode: str                     # TFLite builtin name, e.g. 'CONV_2D'
    inputs: list[int]               # tensor indices; -1 marks an omitted optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)   # builtin options, snake_case keys


@dataclass
class Graph:
    name: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]

    def tensor(self, index: int) -> Tensor | None:
        return None if index < 0 else self.tensors[index]

    def consumers(self, tensor_index: int) -> list[Operator]:
        return [op for op in self.operators if tensor_index in op.inputs]

    def producer(self, tensor_index: int) -> Operator | None:
        for op in self.operators:
            if tensor_index in op.outputs:
                return op
        return None
