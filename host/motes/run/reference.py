"""Run prepared layers with the numpy reference kernels (no arena, no file format).

This is the simplest executor: a dict of tensor index -> int8 array. The
`.mote` executor (motes.run.executor) runs the same kernels inside a planned arena.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..compiler.graph import Graph


def prepare_graph(graph: Graph) -> list:
    from ..compiler.converter import fold_float_islands
    ops.check_supported(graph)
    fold_float_islands(graph)       # (as convert does: the graph's float32 copies run on int8)
    return [ops.prepare_layer(op, graph) for op in graph.operators]


def run_layers(graph: Graph, layers, inputs: list[np.ndarray]) -> list[np.ndarray]:
    values = {}
    for idx, x in zip(graph.inputs, inputs):
        t = graph.tensors[idx]
        values[idx] = np.asarray(x).astype(t.dtype).reshape(t.shape)
    for layer in layers:
        outs = [np.zeros(graph.tensors[i].shape, graph.tensors[i].dtype) for i in layer.outputs]
        ops.evaluate_layer(layer, [values[i] for i in layer.inputs], outs)
        values.update(zip(layer.outputs, outs))
    return [values[i] for i in graph.outputs]
