"""Ops that copy int8 values to new places: STRIDED_SLICE, SLICE, TRANSPOSE, SPLIT,
SPLIT_V, UNPACK (one input, outputs read from it) and PACK (inputs written into one
output). Keras makes them from slicing and Cropping (STRIDED_SLICE), Permute
(TRANSPOSE) and recurrent layers unrolled by the converter (UNPACK, SPLIT, PACK).

TFLM: micro/kernels/strided_slice.cc, slice.cc, transpose.cc, split.cc, split_v.cc,
unpack.cc, pack.cc. None of them requantizes: the converter gives inputs and
outputs one scale and zero point, and motes refuses a model where they differ.

Each op's index arithmetic is done here, once: every element of the strided
side is at an affine place, `offsets[j] + sum(i[k] * steps[k])` for element
i (a multi-index) of the contiguous side j (output j; PACK: input j). That is
all the board needs (device/motes/k_gather.py): one loop for seven ops, no
masks or negative indices to resolve. The affine form is derived from numpy's
own slicing of an index array and checked element by element.
"""
from __future__ import annotations

import numpy as np

from ..compiler.graph import ModelError
from .base import Layer, const_input, expect_int8, same_quantization

OPCODES = ("STRIDED_SLICE", "SLICE", "TRANSPOSE", "SPLIT", "SPLIT_V", "UNPACK", "PACK")
PARAMS = ("offsets[]", "steps[]")
CONSTS = ()
_MAX_ELEMENTS = 1 << 24


def _ints(op, graph, i, what):
    t = graph.tensor(op.inputs[i]) if i < len(op.inputs) else None
    if t is None or t.dtype not in ("int32", "int64"):
        raise ModelError(f"{op.opcode} #{op.index}: {what} must be a constant int32 tensor")
    return [int(v) for v in np.asarray(const_input(op, graph, i, what)).reshape(-1)]


def _axis(op, a, rank):
    r = a + rank if a < 0 else a
    if not 0 <= r < rank:
        raise ModelError(f"{op.opcode} #{op.index}: axis {a} is out of range for rank {rank}")
    return r


def _strided_slice(op, graph, idx):
    o = op.options
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
        raise ModelError(f"STRIDED_SLICE #{op.index}: ellipsis_mask and new_axis_mask are not supported; "
                         "slice with explicit ranges on every axis (x[:, 2:6], not x[..., None])")
    begin = _ints(op, graph, 1, "begin")
    end = _ints(op, graph, 2, "end")
    stride = _ints(op, graph, 3, "strides") if len(op.inputs) > 3 else [1] * len(begin)
    rank = idx.ndim
    if not len(begin) == len(end) == len(stride) <= rank:
        raise ModelError(f"STRIDED_SLICE #{op.index}: begin, end and strides have {len(begin)}, {len(end)}, "
                         f"{len(stride)} values for a rank-{rank} input")
    bm, em, sm = o.get("begin_mask", 0), o.get("end_mask", 0), o.get("shrink_axis_mask", 0)
    picks, keep = [], []
    for k in range(rank):
        d = idx.shape[k]
        if k >= len(begin):             # axes past the given ones: whole
            picks.append(np.arange(d))
            keep.append(True)
            continue
        s = stride[k]
        if s == 0:
            raise ModelError(f"STRIDED_SLICE #{op.index}: stride 0 on axis {k}")
        # TFLite's StartForAxis / StopForAxis (strided_slice_logic.h)
        if bm >> k & 1:
            b = 0 if s > 0 else d - 1
        else:
            b = begin[k] + d if begin[k] < 0 else begin[k]
            b = min(max(b, 0), d) if s > 0 else min(max(b, -1), d - 1)
        if sm >> k & 1:
            if not 0 <= b < d:
                raise ModelError(f"STRIDED_SLICE #{op.index}: index {begin[k]} is outside axis {k} of size {d}")
            picks.append(np.array([b]))
            keep.append(False)
            continue
        e = end[k] + (b if o.get("offset", False) else 0)
        if em >> k & 1:
            e = d if s > 0 else -1
        else:
            e = e + d if e < 0 else e
            e = min(max(e, 0), d) if s > 0 else min(max(e, -1), d - 1)
        picks.append(np.arange(b, e, s))
        keep.append(True)
    out = idx[np.ix_(*picks)]
    return [out.reshape([n for n, k in zip(out.shape, keep) if k])]


def _slice(op, graph, idx):
    begin, size = _ints(op, graph, 1, "begin"), _ints(op, graph, 2, "size")
    if not len(begin) == len(size) == idx.ndim:
        raise ModelError(f"SLICE #{op.index}: begin and size need {idx.ndim} values each")
    sl = []
    for k, (b, n) in enumerate(zip(begin, size)):
        e = idx.shape[k] if n == -1 else b + n
        if not 0 <= b <= e <= idx.shape[k]:
            raise ModelError(f"SLICE #{op.index}: begin {b}, size {n} do not fit axis {k} of size {idx.shape[k]}")
        sl.append(slice(b, e))
    return [idx[tuple(sl)]]


def _split(op, graph, idx):
    o = op.options
    if op.opcode == "SPLIT":
        axis = _axis(op, _ints(op, graph, 0, "axis")[0], idx.ndim)
        n = o.get("num_splits", len(op.outputs))
        if n < 1 or idx.shape[axis] % n:
            raise ModelError(f"SPLIT #{op.index}: axis {axis} of size {idx.shape[axis]} does not split in {n}")
        return np.split(idx, n, axis)
    sizes = _ints(op, graph, 1, "size_splits")
    axis = _axis(op, _ints(op, graph, 2, "axis")[0], idx.ndim)
    d = idx.shape[axis]
    if sizes.count(-1) == 1:
        sizes[sizes.index(-1)] = d - (sum(sizes) + 1)
    if any(v < 0 for v in sizes) or sum(sizes) != d:
        raise ModelError(f"SPLIT_V #{op.index}: sizes {sizes} do not add up to axis {axis}'s {d}")
    return np.split(idx, np.cumsum(sizes)[:-1], axis)


def _affine(op, a):
    """(offset, steps) with a == offset + sum(i[k] * steps[k]) for every multi-index i."""
    if a.size == 0:
        return 0, [0] * a.ndim
    off = int(a.flat[0])
    steps = [int(a[(0,) * k + (1,) + (0,) * (a.ndim - k - 1)]) - off if n > 1 else 0
             for k, n in enumerate(a.shape)]
    grid = np.full(a.shape, off, dtype=np.int64)
    for k, s in enumerate(steps):
        grid += (np.arange(a.shape[k]) * s).reshape((-1,) + (1,) * (a.ndim - k - 1))
    if not np.array_equal(grid, a):     # (cannot happen for these ops: a guard for a new one)
        raise ModelError(f"{op.opcode} #{op.index}: the copy is not a strided one")
    return off, steps


def prepare(op, graph) -> Layer:
    what = f"{op.opcode} #{op.index}"
    code = op.opcode
    data = list(op.inputs) if code == "PACK" else [op.inputs[1] if code == "SPLIT" else op.inputs[0]]
    if not op.outputs or len(op.outputs) > 1 and code not in ("SPLIT", "SPLIT_V", "UNPACK"):
        raise ModelError(f"{what}: unexpected number of outputs ({len(op.outputs)})")
    expect_int8(op, graph, data + list(op.outputs))
    if any(graph.tensors[t].is_const for t in data):
        raise ModelError(f"{what}: constant input; fold it before conversion")
    out0 = op.outputs[0]
    same_quantization(op, graph, data + list(op.outputs[1:]), out0, "copies int8 values")
    for t in data + list(op.outputs):
        # (the index arrays below hold every element: a damaged shape must not take the host's RAM)
        if graph.tensors[t].size > _MAX_ELEMENTS:
            raise ModelError(f"{what}: tensor {graph.tensors[t].name!r} has {graph.tensors[t].size:,} "
                             f"elements, more than a microcontroller's model moves ({_MAX_ELEMENTS:,})")
    if code == "PACK":
        y = graph.tensors[out0]
        idx = np.arange(int(np.prod(y.shape, dtype=np.int64))).reshape(y.shape)
        axis = _axis(op, op.options.get("axis", 0), idx.ndim)
        if idx.shape[axis] != len(data):
            raise ModelError(f"{what}: {len(data)} inputs packed along an axis of size {idx.shape[axis]}")
        parts = [np.take(idx, j, axis=axis) for j in range(len(data))]
        sides = data
    else:
        x = graph.tensors[data[0]]
        idx = np.arange(int(np.prod(x.shape, dtype=np.int64))).reshape(x.shape)
        if code == "STRIDED_SLICE":
            parts = _strided_slice(op, graph, idx)
        elif code == "SLICE":
            parts = _slice(op, graph, idx)
        elif code == "TRANSPOSE":
            perm = _ints(op, graph, 1, "perm")
            if sorted(perm) != list(range(idx.ndim)):
                raise ModelError(f"{what}: perm {perm} is not a permutation of {idx.ndim} axes")
            parts = [np.transpose(idx, perm)]
        elif code == "UNPACK":
            axis = _axis(op, op.options.get("axis", 0), idx.ndim)
            parts = [np.take(idx, j, axis=axis) for j in range(idx.shape[axis])]
        else:
            parts = _split(op, graph, idx)
        sides = list(op.outputs)
    if len(parts) != len(sides):
        raise ModelError(f"{what}: {len(sides)} tensors for {len(parts)} parts")
    offsets, steps = [], None
    for t, a in zip(sides, parts):
        shape = tuple(graph.tensors[t].shape)
        if int(np.prod(shape, dtype=np.int64)) != a.size:
            raise ModelError(f"{what}: tensor {graph.tensors[t].name!r} has shape {shape}, the op gives "
                             f"{tuple(a.shape)}")
        a = a.reshape(shape)
        off, st = _affine(op, a)
        if steps is not None and len(st) != len(steps):
            raise ModelError(f"{what}: its parts differ in rank")
        # parts of one op share their steps but where an axis has size 1 (any step reads nothing)
        if steps is not None and any(s and t_ and s != t_ for s, t_ in zip(steps, st)):
            raise ModelError(f"{what}: its parts are not copied with the same steps")
        steps = st if steps is None else [s or t_ for s, t_ in zip(steps, st)]
        offsets.append(off)
    return Layer(code, data, list(op.outputs), params=dict(offsets=offsets, steps=steps))


def evaluate(layer, ins, outs) -> None:
    offs, steps = layer.params["offsets"], layer.params["steps"]
    pack = layer.op == "PACK"
    big = (outs[0] if pack else ins[0]).reshape(-1)
    for j, off in enumerate(offs):
        small = ins[j] if pack else outs[j]
        where = np.full(small.shape, off, dtype=np.int64)
        for k, s in enumerate(steps):
            where += (np.arange(small.shape[k]) * s).reshape((-1,) + (1,) * (small.ndim - k - 1))
        if pack:
            big[where] = small
        else:
            small[...] = big[where]


def macs(layer, in_shapes, out_shapes) -> int:
    return 0
