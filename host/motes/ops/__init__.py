"""Per-op "prepare" (host, once) and "evaluate" (numpy reference) functions.

Each op lives in its own module with a fixed shape, like TFLM's kernels:

    OPCODES = ('CONV_2D',)          # TFLite builtin names this module handles
    PARAMS = ('stride_h', ...)      # int params, in .mote serialization order; a name
                                    # ending in '[]' is a list of ints, stored in
                                    # layer.params under the name without '[]'
    CONSTS = ('weights', 'bias', 'multiplier', 'shift')   # constant arrays, in order
    def prepare(op: Operator, graph: Graph) -> Layer      # validate, precompute
    def evaluate(layer: Layer, ins: list[np.ndarray], outs: list[np.ndarray]) -> None
    def macs(layer: Layer, in_shapes, out_shapes) -> int

`prepare` is TFLM's Prepare: it turns scales into multipliers and shifts,
fused activations into clamp bounds, padding modes into pad amounts, so that
`evaluate` (and the device) only computes. `evaluate` writes into the
preallocated output arrays `outs` (views into the activation arena) and never
reads the Graph: everything it needs is in the Layer.
"""
from __future__ import annotations

import importlib
from collections import defaultdict

from ..compiler.graph import Graph, ModelError, Operator
from .base import Layer  # noqa: F401  (re-exported for callers)


_MODULES = (
    "fully_connected", "conv", "depthwise_conv", "pooling", "reshape", "softmax",
    "activations", "elementwise", "mean", "concatenation", "pad", "quantize",
    "minmax", "reduce_max", "gather", "transpose_conv",
)

OPS: dict[str, object] = {}          # opcode -> module
for _name in _MODULES:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as e:  # op module not written yet
        if e.name != f"{__name__}.{_name}":
            raise
        continue
    for _code in _mod.OPCODES:
        OPS[_code] = _mod

# The .mote format numbers ops by this table (append only: the number is stored in files).
OP_IDS = {name: i for i, name in enumerate((
    "FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D",
    "RESHAPE", "SOFTMAX", "LOGISTIC", "TANH", "ADD", "MUL", "MEAN", "CONCATENATION", "PAD",
    "RELU", "RELU6", "QUANTIZE", "SQUEEZE", "EXPAND_DIMS", "PADV2", "SUB", "LEAKY_RELU",
    "HARD_SWISH", "DEQUANTIZE", "MAXIMUM", "MINIMUM", "REDUCE_MAX", "STRIDED_SLICE", "SLICE",
    "TRANSPOSE", "SPLIT", "SPLIT_V", "UNPACK", "PACK", "TRANSPOSE_CONV",
))}


def module_for(opcode: str):
    mod = OPS.get(opcode)
    if mod is None:
        raise ModelError(f"op {opcode} is not supported")
    return mod


# what to do instead, for ops that Keras layers commonly become
_RNN = "a recurrent layer kept as a loop: build it with unroll=True (the converter then makes ops motes runs)"
_FLOAT_ACT = ("an activation TensorFlow's int8 converter leaves in float32: use relu, relu6, leaky_relu, "
              "sigmoid, tanh, swish or hard_swish")
HINTS = {
    "WHILE": _RNN, "UNIDIRECTIONAL_SEQUENCE_LSTM": _RNN, "UNIDIRECTIONAL_SEQUENCE_RNN": _RNN,
    "BIDIRECTIONAL_SEQUENCE_LSTM": _RNN, "BIDIRECTIONAL_SEQUENCE_RNN": _RNN,
    "ELU": _FLOAT_ACT, "GELU": _FLOAT_ACT, "EXP": _FLOAT_ACT, "LOG": _FLOAT_ACT,
    "TILE": "UpSampling: a Conv2DTranspose (TRANSPOSE_CONV) upsamples and runs",
    "RESIZE_NEAREST_NEIGHBOR": "UpSampling or Resizing: a Conv2DTranspose (TRANSPOSE_CONV) upsamples and runs",
    "RESIZE_BILINEAR": "UpSampling or Resizing: a Conv2DTranspose (TRANSPOSE_CONV) upsamples and runs",
}


def check_supported(graph: Graph) -> None:
    """Raise one ModelError naming every unsupported op, how often and where."""
    missing = defaultdict(list)
    for op in graph.operators:
        if op.opcode not in OPS:
            missing[op.opcode].append(op)
    if not missing:
        return
    lines = []
    for code, ops in sorted(missing.items()):
        where = ", ".join(
            f"#{o.index} -> {graph.tensors[o.outputs[0]].name!r}" if o.outputs else f"#{o.index}"
            for o in ops[:5]) + (" ..." if len(ops) > 5 else "")
        lines.append(f"  {code} x{len(ops)} (operators {where})" + (f": {HINTS[code]}" if code in HINTS else ""))
    raise ModelError(
        f"{graph.name}: {sum(len(v) for v in missing.values())} operator(s) that motes does not support:\n"
        + "\n".join(lines)
        + "\nSupported: " + ", ".join(sorted(OPS))
        + ".\nReplace those layers in the model (or quantize it fully to int8) and convert again.")


def prepare_layer(op: Operator, graph: Graph) -> Layer:
    layer = module_for(op.opcode).prepare(op, graph)
    layer.source = op.index
    return layer


def evaluate_layer(layer: Layer, ins, outs) -> None:
    module_for(layer.op).evaluate(layer, ins, outs)


def layer_macs(layer: Layer, in_shapes, out_shapes) -> int:
    fn = getattr(module_for(layer.op), "macs", None)
    return int(fn(layer, in_shapes, out_shapes)) if fn else 0
