"""Activation memory plan: one arena, a fixed offset for every activation tensor.

Greedy by size, like TFLM's GreedyMemoryPlanner: buffers sorted by size
(largest first) are each placed at the lowest offset that does not overlap any
already placed buffer whose lifetime (first to last layer that touches it)
intersects its own. Ops that only reinterpret their input (RESHAPE and
friends) share the input's buffer, so they cost no memory and no copy.
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 4  # every buffer starts on a 4-byte boundary (word access in C kernels)


@dataclass
class Buffer:
    tensors: list[int]
    size: int
    first: int
    last: int
    offset: int = -1


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan(layers, sizes: dict[int, int], graph_inputs, graph_outputs, aliases=frozenset()):
    """Return ({tensor: offset}, arena_size).

    layers: objects with .op, .inputs, .outputs (tensor ids) in execution order.
    sizes: bytes of each activation tensor. aliases: op names whose single
    output may share its single input's memory.
    """
    root = {t: t for t in sizes}

    def find(t):
        while root[t] != t:
            t = root[t]
        return t

    for layer in layers:
        if layer.op in aliases and len(layer.inputs) == 1 and len(layer.outputs) == 1:
            root[find(layer.outputs[0])] = find(layer.inputs[0])

    n = len(layers)
    span: dict[int, list[int]] = {}

    def touch(t, step):
        r = find(t)
        lo, hi = span.get(r, (step, step))
        span[r] = [min(lo, step), max(hi, step)]

    for t in graph_inputs:
        touch(t, 0)
    for step, layer in enumerate(layers):
        for t in list(layer.inputs) + list(layer.outputs):
            touch(t, step)
    for t in graph_outputs:
        touch(t, n)

    buffers = {}
    for t in sizes:
        r = find(t)
        if r not in span:
            continue
        b = buffers.setdefault(r, Buffer([], 0, *span[r]))
        b.tensors.append(t)
        b.size = max(b.size, _align(sizes[t]))

    placed: list[Buffer] = []
    for b in sorted(buffers.values(), key=lambda b: (-b.size, b.first)):
        live = sorted((p for p in placed if p.first <= b.last and b.first <= p.last),
                      key=lambda p: p.offset)
        offset = 0
        for p in live:
            if offset + b.size <= p.offset:
                break
            offset = max(offset, p.offset + p.size)
        b.offset = offset
        placed.append(b)

    offsets = {t: b.offset for b in placed for t in b.tensors}
    arena = max((b.offset + b.size for b in placed), default=0)
    return offsets, arena

