"""What a .mote holds, in memory: tensors, layers and their packed constants, and the
format's small tables (dtype codes, op byte bits, param kinds and their ranges)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import codecs
from ..ops.base import Layer
from .container import MINOR, FormatError

DTYPES = ["int8", "uint8", "int16", "int32", "float32"]   # dtype code = index
DTYPE_SIZES = [1, 1, 2, 4, 4]
IMPLIED_SHAPE = 0x80        # const kind bit 7: the shape is [C], not stored (format 1.1)
CHAIN = 0x80                # layer op bit 7: inputs and outputs implied (format 1.1)
INTERLEAVED = 0x40          # layer op bit 6: interleaved weights, folded bias (format 1.2)

# Derived encodings (format 1.1, docs/FORMAT.md "Derived constants"): codec ids
# the container resolves with the layer's context (derived.py). Their payload wraps an
# ordinary int32 payload (codec 0, 3 or 4).
CODEC_SCALES = 5      # multiplier slot: filter scales; multiplier and shift are rebuilt
CODEC_BIASPRED = 6    # bias slot: alpha + residuals; bias = residual + (alpha * weight sum + 8) >> 4
DERIVED = {CODEC_SCALES: "scales", CODEC_BIASPRED: "biaspred"}
DERIVED_OPS = {"FULLY_CONNECTED": 0, "CONV_2D": 0, "DEPTHWISE_CONV_2D": 3}   # op -> output channel axis of weights


# The range of every scalar param, by the kind of value it holds (docs/FORMAT.md,
# Verification): a reader refuses a value outside it. The device's op table
# (optable.py) holds each param's kind as one letter; 'l' is a list of int32.
PARAM_LIMITS = {
    "s": (-(1 << 31), (1 << 31) - 1),   # any int32
    "a": (-128, 127),                   # a fused activation's clamp bound (act_min <= act_max)
    "o": (-128, 127),                   # an output offset or a zero point (int8)
    "g": (1, 255),                      # a stride or dilation
    "p": (0, 32767),                    # a padding amount
    "f": (1, 32767),                    # a filter size or depth multiplier
    "m": (0, (1 << 31) - 1),            # a fixed-point multiplier
    "h": (-63, 31),                     # a shift (right shifts past 31 round to 0 or -1 alike everywhere)
    "k": (0, 20),                       # the left shift of ADD / SUB
    "q": (0, 3),                        # QUANTIZE / DEQUANTIZE mode
    "v": (-128, 127),                   # a padding value
    "i": (-127, 128),                   # an input or filter offset: minus an int8 zero point
    "u": (0, 31),                       # SOFTMAX's input left shift
}
KIND_LETTERS = "saogpfmhkqviu"          # the device's order (verify.py)
_KIND_OF = {"act_min": "a", "act_max": "a", "pad_value": "v", "mode": "q", "left_shift": "k",
            "stride_h": "g", "stride_w": "g", "dilation_h": "g", "dilation_w": "g",
            "pad_h": "p", "pad_w": "p", "filter_h": "f", "filter_w": "f", "depth_multiplier": "f",
            "input_left_shift": "u"}


def param_kind(name: str) -> str:
    """The letter of a param's kind (PARAM_LIMITS), 'l' for a list."""
    if name.endswith("[]"):
        return "l"
    if name in _KIND_OF:
        return _KIND_OF[name]
    if name in ("input_offset", "input1_offset", "input2_offset", "filter_offset"):
        return "i"
    if name.endswith("_offset") and name != "sum_offset" or name.endswith("zero_point"):
        return "o"
    if "multiplier" in name:
        return "m"
    if name.endswith("shift") or name[:-1].endswith("shift"):
        return "h"
    return "s"


@dataclass
class TensorInfo:
    shape: tuple
    dtype: str
    scale: float
    zero_point: int
    offset: int = 0             # byte offset in the activation arena

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class PackedConst:
    """One constant array as stored: which codec, its payload, its shape."""
    codec: int
    dtype: str
    shape: tuple
    payload: bytes

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def raw_bytes(self) -> int:
        return self.count * np.dtype(self.dtype).itemsize

    @property
    def codec_name(self) -> str:
        if self.codec in DERIVED:
            return DERIVED[self.codec]
        return codecs.CODECS[self.codec].name if self.codec in codecs.CODECS else f"codec {self.codec}"

    @property
    def derived(self) -> bool:
        """Whether it is a derived encoding (codec 5, 6), decoded with its layer."""
        return self.codec in DERIVED

    def decode(self) -> np.ndarray:
        """The array; a derived encoding (codec 5, 6) needs its layer: see decode_layer_consts."""
        if self.codec in DERIVED:
            raise FormatError(f"a {DERIVED[self.codec]} constant is decoded with its layer (decode_layer_consts)")
        try:
            return codecs.unpack(self.codec, self.payload, self.count, np.dtype(self.dtype)).reshape(self.shape)
        except codecs.CodecError as e:
            raise FormatError(f"damaged weights: {e}") from e

    def stored(self) -> tuple:
        """A derived encoding's parts: (alpha or None, inner codec id, inner values as int32)."""
        from .derived import stored_parts
        return stored_parts(self)


@dataclass
class MoteModel:
    meta: dict
    tensors: list[TensorInfo]
    layers: list[Layer]                  # inputs/outputs are indices into tensors
    inputs: list[int]
    outputs: list[int]
    arena_size: int
    packed: list[dict] = field(default_factory=list)   # per layer: const name -> PackedConst
    minor: int = MINOR       # format minor version; 0: the 1.0 layout (no implied shapes). The
                             # writer writes the lowest minor >= 1 the layers need (written_minor)

    def decoded_consts(self, i: int) -> dict:
        """Layer i's constant arrays, the derived ones rebuilt (the layer is left as it is)."""
        from .consts import decode_layer_consts
        return decode_layer_consts(self.layers[i], self.packed[i], self.tensors)


def channels_of(layer: Layer, tensors) -> int | None:
    """C of an implied shape [C]: the last dim of the layer's first output (None if it has none)."""
    if tensors is None or not layer.outputs:
        return None
    shape = tensors[layer.outputs[0]].shape
    return int(shape[-1]) if len(shape) else None
