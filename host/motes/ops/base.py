"""What op modules share: the Layer record and small prepare-time helpers."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..compiler.graph import Graph, ModelError, Operator


@dataclass
class Layer:
    op: str                         # TFLite builtin name, e.g. 'CONV_2D'
    inputs: list[int]               # activation tensor indices (graph tensors)
    outputs: list[int]
    params: dict = field(default_factory=dict)   # name -> int or list of ints
    consts: dict = field(default_factory=dict)   # name -> np.ndarray
    source: int = -1                # index of the TFLite operator it came from
    # float32 weight scales (one per output channel, or one) of FULLY_CONNECTED,
    # CONV_2D and DEPTHWISE_CONV_2D: the .mote writer may store them instead of
    # the multipliers and shifts (docs/FORMAT.md, derived constants)
    filter_scale: np.ndarray | None = None
    # format 1.2 (docs/FORMAT.md, Interleaved weights): FULLY_CONNECTED / CONV_2D
    # weights in groups of 8 output channels, input-major, input offset folded
    # into the bias (motes.compiler.interleave)
    interleaved: bool = False

def const_input(op: Operator, graph: Graph, i: int, what: str) -> np.ndarray:
    """The constant data of input i, or a ModelError naming the op."""
    t = graph.tensor(op.inputs[i]) if i < len(op.inputs) else None
    if t is None or t.data is None:
        raise ModelError(f"{op.opcode} #{op.index}: {what} must be a constant tensor")
    return t.data


def expect_int8(op: Operator, graph: Graph, indices) -> None:
    for i in indices:
        t = graph.tensors[i]
        if t.dtype != "int8":
            raise ModelError(
                f"{op.opcode} #{op.index}: tensor {t.name!r} is {t.dtype}; motes runs int8 models. "
                "Convert with full-integer quantization (inference_input_type=tf.int8).")
        if t.scale is None:
            raise ModelError(f"{op.opcode} #{op.index}: tensor {t.name!r} has no quantization parameters")


def per_channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float):
    """TFLM PopulateConvolutionQuantizationParams: per-channel (multiplier[], shift[]).

    effective_scale = double(input_scale) * double(filter_scale[c]) / double(output_scale)
    """
    from ..quant import quantize_multiplier
    mults, shifts = [], []
    for fs in np.asarray(filter_scales, dtype=np.float32):
        m, s = quantize_multiplier(float(input_scale) * float(fs) / float(output_scale))
        mults.append(m)
        shifts.append(s)
    return np.array(mults, dtype=np.int32), np.array(shifts, dtype=np.int8)


def same_quantization(op: Operator, graph: Graph, inputs, output: int, does: str) -> None:
    """A ModelError unless every tensor in inputs has output's scale and zero point: for the ops
    that move or compare int8 values without requantizing them (TFLM does not always check)."""
    y = graph.tensors[output]
    so, zo = y.qparams()
    for i in inputs:
        s, z = graph.tensors[i].qparams()
        if abs(s - so) > 1e-6 * max(abs(so), 1e-30) or z != zo:
            raise ModelError(f"{op.opcode} #{op.index}: input {graph.tensors[i].name!r} (scale {s:g}, zero point "
                             f"{z}) and output (scale {so:g}, zero point {zo}) quantization differ; the op {does}, "
                             "so they must be equal. Convert the model again.")


def split_operands(op: Operator, graph: Graph) -> tuple[list[int], dict]:
    """A binary op's activation inputs and its constant operands ('input1' / 'input2',
    int8 in their own shapes, so that broadcasting works on the board as here)."""
    inputs, consts = [], {}
    for k, i in enumerate(op.inputs):
        t = graph.tensors[i]
        if t.is_const:
            consts[f"input{k + 1}"] = np.asarray(t.data, dtype=np.int8).reshape(t.shape)
        else:
            inputs.append(i)
    return inputs, consts
