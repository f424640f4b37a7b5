"""Turn a TFLite graph into a MoteModel: TFLM's Prepare, done once on the host.

Steps: drop float QUANTIZE / DEQUANTIZE at the model's edges (the device
quantizes floats itself, from the metadata), check every op is supported,
prepare each layer (multipliers, shifts, bounds, padding), plan the activation
arena, and pack each layer's constants with the smallest codec.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from . import interleave as _il
from .. import ops
from ..mote import BIASPRED_WRITE_OPS, MoteModel, TensorInfo, pack_consts, to_bytes, without_derived
from .graph import Graph, ModelError
from ..ops.conv import as_fc as conv_as_fc
from ..ops.depthwise_conv import as_conv as depthwise_as_conv
from .planner import plan


@dataclass
class EdgeInfo:
    float_input: bool = False
    float_output: bool = False


def strip_float_edges(graph: Graph) -> EdgeInfo:
    """Remove QUANTIZE(float->int8) feeding from a graph input and DEQUANTIZE to a graph output."""
    info = EdgeInfo()
    keep = []
    inputs, outputs = list(graph.inputs), list(graph.outputs)
    for op in graph.operators:
        src = graph.tensors[op.inputs[0]] if op.inputs else None
        dst = graph.tensors[op.outputs[0]] if op.outputs else None
        if (op.opcode == "QUANTIZE" and src is not None and src.dtype == "float32"
                and op.inputs[0] in inputs and dst.dtype == "int8"
                and len(graph.consumers(op.inputs[0])) == 1):
            inputs[inputs.index(op.inputs[0])] = op.outputs[0]
            info.float_input = True
            continue
        if (op.opcode == "DEQUANTIZE" and dst is not None and dst.dtype == "float32"
                and op.outputs[0] in outputs and src.dtype == "int8"):
            outputs[outputs.index(op.outputs[0])] = op.inputs[0]
            info.float_output = True
            continue
        keep.append(op)
    graph.operators, graph.inputs, graph.outputs = keep, inputs, outputs
    return info


# ops that only move values: a float32 island of them runs on int8 (fold_float_islands)
_FLOAT_COPIES = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SPLIT", "SPLIT_V", "STRIDED_SLICE", "SLICE",
                 "TRANSPOSE", "UNPACK")


def fold_float_islands(graph: Graph) -> int:
    """DEQUANTIZE -> ops that copy float32 values -> QUANTIZE, inside a model, run on int8.

    TensorFlow's converter leaves such an island where a copy's int8 outputs could not
    share one scale (an LSTM cell SPLITs its gates, each of its own range). The copies
    move values unchanged, so they move the int8 values just as well (their tensors take
    the DEQUANTIZE input's scale and zero point), and each QUANTIZE at an end takes the
    int8 values to its scale through float32 as TFLM does (option 'through_float':
    ops/quantize.py's mode 3, bit-exact). Returns the number of islands folded."""
    folded = 0
    for dq in [op for op in graph.operators if op.opcode == "DEQUANTIZE"]:
        src = graph.tensors[dq.inputs[0]]
        if src.dtype != "int8" or src.scale is None or len(src.scale) != 1:
            continue
        floats, copies, ends, todo = [dq.outputs[0]], [], [], [dq.outputs[0]]
        ok = True
        while todo and ok:
            t = todo.pop()
            ok = t not in graph.outputs
            for c in graph.consumers(t) if ok else ():
                others = [i for i in c.inputs if i != t and i >= 0]
                if c.opcode == "QUANTIZE" and graph.tensors[c.outputs[0]].dtype == "int8":
                    ends.append(c)
                elif c.opcode in _FLOAT_COPIES and all(graph.tensors[i].is_const for i in others) \
                        and all(graph.tensors[o].dtype == "float32" for o in c.outputs):
                    copies.append(c)
                    floats += c.outputs
                    todo += c.outputs
                else:
                    ok = False
        if not ok or not ends:
            continue
        for t in floats[1:]:
            graph.tensors[t].dtype = "int8"
            graph.tensors[t].scale = np.array(src.scale, dtype=np.float32)
            graph.tensors[t].zero_point = np.array(src.zero_point, dtype=np.int64)
        for c in copies + ends:
            c.inputs = [dq.inputs[0] if i == dq.outputs[0] else i for i in c.inputs]
        for q in ends:
            q.options = dict(q.options, through_float=True)
        graph.operators = [op for op in graph.operators if op is not dq]
        folded += 1
    return folded


def prune_shape_computations(graph: Graph) -> int:
    """Drop ops that only compute shape tensors nobody needs; return how many.

    Shapes in a .tflite are static (batch 1), so reshape-like ops take their
    shape from the output tensor and ignore their shape input. A model saved
    with a dynamic batch computes that input with SHAPE, STRIDED_SLICE, PACK:
    once nothing reads it, those ops are dead and are removed.
    """
    for op in graph.operators:
        if op.opcode in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
            op.inputs = op.inputs[:1]
    removed = 0
    while True:
        needed = set(graph.outputs) | {i for op in graph.operators for i in op.inputs}
        dead = [op for op in graph.operators if not any(o in needed for o in op.outputs)]
        if not dead:
            return removed
        graph.operators = [op for op in graph.operators if op not in dead]
        removed += len(dead)


def _check_io(graph: Graph) -> None:
    for kind, ids in (("input", graph.inputs), ("output", graph.outputs)):
        for i in ids:
            t = graph.tensors[i]
            if t.dtype != "int8" or t.scale is None:
                raise ModelError(
                    f"{graph.name}: model {kind} {t.name!r} is {t.dtype}"
                    f"{'' if t.scale is not None else ' without quantization'}; motes needs int8 "
                    "inputs and outputs (or float ones behind QUANTIZE/DEQUANTIZE). Convert with "
                    "full-integer quantization: inference_input_type=inference_output_type=tf.int8"
                    + (" (and feed uint8 data such as camera pixels as x - 128)." if t.dtype == "uint8" else "."))


@dataclass(frozen=True)
class ConvertOptions:
    """How the converter writes a model: one value passed down, no module settings."""
    # Write format 1.1 (filter scales instead of multipliers and shifts, biases
    # predicted from the weight sums, implied [C] shapes, chained layers:
    # docs/FORMAT.md). False writes the 1.0 layout, which runtimes older than 1.1 read.
    compact: bool = True
    # The derived constants (codecs 5, 6) make a streaming board keep the code that
    # rebuilds them (device/motes/derive.py, about 2 KB of heap in the 64-bit unix
    # port, less on a board): a model uses them only when they save at least this
    # many bytes of file (person_detect: 3,033; kws: 623; micro_speech: 10).
    derived_min_saving: int = 1024
    # The ops whose bias may be predicted from the weight sums (codec 6): see
    # mote.derived.BIASPRED_WRITE_OPS (the format allows FULLY_CONNECTED and CONV_2D too).
    biaspred_ops: tuple = BIASPRED_WRITE_OPS
    # Format 1.2 (docs/FORMAT.md, "Interleaved weights"): FULLY_CONNECTED and CONV_2D
    # layers are stored interleaved when the rules allow it and their largest group of
    # 8 output channels is at most interleave_max_group bytes: a streaming device
    # decodes a whole group at a time, so that bounds its weight buffer. None: the
    # larger of interleave.MAX_GROUP_BYTES and a quarter of the model's activation
    # arena (group_limit). interleave needs compact (the 1.0 layout has none).
    interleave: bool = True
    interleave_max_group: int | None = None
    # A DEPTHWISE_CONV_2D on a 1-channel input is written as the CONV_2D it is
    # (ops.depthwise_conv.as_conv): the same numbers, and every backend's CONV_2D
    # kernel takes it 8 output channels a pass (micro_speech's first layer on the
    # emulated Cortex-M0: 21.5 instructions per MAC as a depthwise layer).
    dw_as_conv: bool = True
    # A CONV_2D whose window is its whole input (one output pixel, as a
    # classifier's 1x1 convolution after a global pool) is written as the
    # FULLY_CONNECTED it is (ops.conv.as_fc): the same numbers, without a
    # convolution's set-up (person_detect's 256 -> 2 on the emulated
    # Cortex-M0: 4,732 instructions as a CONV_2D).
    conv_as_fc: bool = True


DEFAULTS = ConvertOptions()


def group_limit(arena: int) -> int:
    """The largest group of 8 output channels the converter interleaves by default.

    A group is at least MAX_GROUP_BYTES, the 4 KB a streaming device's weight
    buffer may take for any model, and up to a quarter of the activation arena
    that the model needs anyway. With that, a 3x3 CONV_2D over 64 channels (576
    bytes a row, 4,608 a group), as in MLPerf Tiny's ResNet-8, is interleaved; row-major, it took
    6.15 instructions per MAC on the M0 instead of 3.46."""
    return max(_il.MAX_GROUP_BYTES, arena // 4)


def interleave_layers(layers, tensors, max_group: int | None = None) -> int:
    """Interleave (in place in the list) each layer format 1.2 allows whose largest group
    is at most max_group bytes (default: MAX_GROUP_BYTES); return how many."""
    max_group = _il.MAX_GROUP_BYTES if max_group is None else max_group
    n = 0
    for k, layer in enumerate(layers):
        if layer.op not in _il.OPS or layer.interleaved:
            continue
        shape = tensors[layer.inputs[0]].shape if layer.inputs else ()
        in_channels = int(shape[-1]) if len(shape) else None
        if _il.why_not(layer, in_channels) is None and _il.group_bytes(layer) <= max_group:
            layers[k] = _il.interleave_layer(layer)
            n += 1
    return n


def resolve_options(options: ConvertOptions | None = None, compact: bool | None = None,
                    interleave: bool | None = None) -> ConvertOptions:
    """options (default: ConvertOptions()) with the compact and interleave overrides; interleave
    defaults to off for the 1.0 layout (compact=False), and may not be asked for with it."""
    options = options or DEFAULTS
    compact = options.compact if compact is None else compact
    if interleave is None:
        interleave = options.interleave and compact
    elif interleave and not compact:
        raise ValueError("interleaved layers (format 1.2) need the compact layout: the 1.0 layout "
                         "(compact=False) cannot hold them")
    return replace(options, compact=compact, interleave=interleave)


def convert_graph(graph: Graph, meta: dict | None = None, progress=None, compact: bool | None = None,
                  interleave: bool | None = None, options: ConvertOptions | None = None) -> MoteModel:
    """Prepare, plan and pack a graph. `progress(msg)` is called with short status lines.

    options: how to write it (default: ConvertOptions()). compact: write format 1.1's
    derived encodings (overrides options.compact). interleave: store FULLY_CONNECTED and
    CONV_2D weights interleaved where format 1.2 allows it (overrides options.interleave;
    default: on when compact, the 1.0 layout has none).
    """
    opts = resolve_options(options, compact, interleave)
    compact = opts.compact
    say = progress or (lambda msg: None)
    t0 = time.perf_counter()
    edges = strip_float_edges(graph)
    if prune_shape_computations(graph):
        say("removed shape computations (the batch size is fixed to 1)")
    n = fold_float_islands(graph)
    if n:
        say(f"runs {n} float32 island(s) (DEQUANTIZE, copies, QUANTIZE) on int8, bit-exact")
    ops.check_supported(graph)
    _check_io(graph)
    layers = []
    for op in graph.operators:
        layer = ops.prepare_layer(op, graph)
        if opts.dw_as_conv and layer.op == "DEPTHWISE_CONV_2D":
            layer = depthwise_as_conv(layer, int(graph.tensors[op.inputs[0]].shape[-1])) or layer
        if opts.conv_as_fc and layer.op == "CONV_2D":
            layer = conv_as_fc(layer, graph.tensors[op.inputs[0]].shape, graph.tensors[op.outputs[0]].shape) or layer
        layers.append(layer)
    say(f"prepared {len(layers)} layers")

    used = []
    for i in list(graph.inputs) + [t for L in layers for t in L.inputs + L.outputs] + list(graph.outputs):
        if i not in used:
            used.append(i)
    for i in used:
        if graph.tensors[i].is_const:
            raise ModelError(f"{graph.name}: constant tensor {graph.tensors[i].name!r} is used as an "
                             "activation; this op form is not supported")
    new_id = {t: k for k, t in enumerate(used)}
    for layer in layers:
        layer.inputs = [new_id[t] for t in layer.inputs]
        layer.outputs = [new_id[t] for t in layer.outputs]
    tensors = []
    for t in (graph.tensors[i] for i in used):
        scale, zp = (float(t.scale[0]), int(t.zero_point[0])) if t.scale is not None else (0.0, 0)
        tensors.append(TensorInfo(tuple(int(d) for d in t.shape), t.dtype, scale, zp))
    aliases = {code for code, mod in ops.OPS.items() if getattr(mod, "ALIAS", False)}
    offsets, arena = plan(layers, {k: t.nbytes for k, t in enumerate(tensors)},
                          [new_id[i] for i in graph.inputs], [new_id[i] for i in graph.outputs], aliases)
    for k, t in enumerate(tensors):
        t.offset = offsets.get(k, 0)
    say(f"planned a {arena} byte activation arena")
    if opts.interleave:
        limit = group_limit(arena) if opts.interleave_max_group is None else opts.interleave_max_group
        n = interleave_layers(layers, tensors, limit)
        if n:
            say(f"interleaved {n} layer(s) (format 1.2)")

    packed = [pack_consts(layer, tensors=tensors if compact else None, biaspred_ops=opts.biaspred_ops)
              for layer in layers]
    say(f"packed weights in {time.perf_counter() - t0:.2f} s")
    info = {"name": graph.name}
    if edges.float_input:
        info["float_input"] = 1
    if edges.float_output:
        info["float_output"] = 1
    info.update(meta or {})
    model = MoteModel(info, tensors, layers, [new_id[i] for i in graph.inputs],
                      [new_id[i] for i in graph.outputs], arena, packed,
                      (2 if any(L.interleaved for L in layers) else 1) if compact else 0)
    if compact:
        plain = [without_derived(layer, p) for layer, p in zip(layers, packed)]
        if plain != packed:
            saved = len(to_bytes(replace(model, packed=plain))) - len(to_bytes(model))
            if saved < opts.derived_min_saving:
                model.packed = plain
                say(f"derived constants would save {saved} bytes only: not used")
    return model
