"""The host tooling as functions: what the CLI verbs call."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import mote as mote_format
from .compiler.converter import ConvertOptions, convert_graph
from .run.executor import Executor
from .compiler.graph import ModelError
from .quant import round_half_away_f32
from .compiler.tflite_reader import read_tflite


@dataclass
class Converted:
    model: mote_format.MoteModel
    data: bytes                  # the .mote file
    tflite: bytes                # the int8 .tflite it came from


def tflite_bytes_of(source: Path, calibration: Path | None = None, per_channel: bool = True,
                    progress=None) -> bytes:
    """The int8 .tflite for a source: the file itself, or a converted Keras model."""
    from .compiler import keras_import
    source = Path(source)
    if not source.exists():
        raise ModelError(f"{source} not found")
    if keras_import.is_keras_path(source):
        if calibration is None:
            raise ModelError(f"{source} is a Keras model: give calibration data with --calib "
                             "(.npy, .npz or .csv, one sample per row) so it can be quantized to int8")
        data = keras_import.load_calibration(calibration)
        if progress:
            progress(f"quantizing {source.name} to int8 with TensorFlow ({len(data)} calibration samples)")
        return keras_import.keras_to_tflite(source, data, per_channel=per_channel)
    if source.is_dir():
        raise ModelError(f"{source} is a folder but not a SavedModel (no saved_model.pb)")
    return source.read_bytes()


def convert(source, calibration=None, meta=None, per_channel=True, progress=None,
            interleave: bool | None = None, options: ConvertOptions | None = None) -> Converted:
    """Convert a model to a .mote. interleave=False keeps every weight matrix row-major
    (a format 1.1 file); by default the converter interleaves where format 1.2 allows.
    options: the converter's settings (default: ConvertOptions())."""
    raw = tflite_bytes_of(Path(source), calibration, per_channel, progress)
    try:
        graph = read_tflite(raw)
        graph.name = Path(source).stem
        model = convert_graph(graph, meta=meta, progress=progress, interleave=interleave, options=options)
    except ModelError:
        raise
    except (IndexError, KeyError, AttributeError, TypeError, ValueError, ZeroDivisionError, OverflowError,
            ArithmeticError, struct.error, RecursionError) as e:
        # a damaged flatbuffer: an index past a table, a missing field, a zero scale...
        raise ModelError(f"{source}: a damaged or inconsistent .tflite ({type(e).__name__}: {e})") from e
    return Converted(model, mote_format.to_bytes(model), raw)


def mote_bytes(path) -> tuple[bytes, int | None]:
    """The .mote bytes of a .mote path, or of a .tflite converted in memory: (the .mote
    bytes, the size of the source .tflite, None for a .mote)."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path} not found")
    data = path.read_bytes()
    if data[4:8] == b"TFL3":
        return convert(path).data, len(data)
    return data, None


def load_model(path) -> tuple[mote_format.MoteModel, int, int | None]:
    """Load a .mote (or convert a .tflite in memory): (model, file bytes, source .tflite bytes)."""
    data, tflite_size = mote_bytes(path)
    return mote_format.from_bytes(data, str(path)), len(data), tflite_size


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 as TFLM's QUANTIZE does it (float32 division, round half away from zero)."""
    q = np.asarray(x, dtype=np.float32) / np.float32(scale)
    # round half away from zero exactly (not floor(q + 0.5), which turns 0.49999997 into 1)
    q = np.clip(round_half_away_f32(q), -1e9, 1e9)
    return np.clip(q.astype(np.int64) + zero_point, -128, 127).astype(np.int8)


def normalize(x: np.ndarray, meta: dict) -> np.ndarray:
    """The raw readings as the model's int8 input takes them: a model from `motes train`
    carries input_norm (mean, std per feature, repeated over a window) in its meta, applied
    in float32 exactly as the device runtime does (Net._set_input_float). Others: x as is."""
    norm = (meta or {}).get("input_norm")
    x = np.asarray(x, dtype=np.float32)
    if not norm:
        return x
    flat = x.reshape(len(x), -1)
    k = len(norm["mean"])
    if flat.shape[1] % k:
        raise ModelError(f"each sample has {flat.shape[1]} values, not a whole number of the {k} features "
                         "the model's input_norm describes")
    mean = np.resize(np.asarray(norm["mean"], np.float32), flat.shape[1])
    std = np.resize(np.asarray(norm["std"], np.float32), flat.shape[1])
    return ((flat - mean) / std).astype(np.float32).reshape(x.shape)


def quantize_model_input(model: mote_format.MoteModel, x: np.ndarray) -> np.ndarray:
    """Float samples [N, ...] -> int8 as the board quantizes them (input_norm applied first)."""
    t_in = model.tensors[model.inputs[0]]
    return quantize_input(normalize(x, model.meta), t_in.scale, t_in.zero_point)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(q, dtype=np.int64) - zero_point) * np.float64(scale)).astype(np.float32)


def run(model: mote_format.MoteModel, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run one input (int8 as is, floats quantized first); returns (int8 output, float output)."""
    t_in = model.tensors[model.inputs[0]]
    x = np.asarray(x)
    xq = x.astype(np.int8) if x.dtype == np.int8 else quantize_model_input(model, x[None])[0]
    out = Executor(model).run([xq])[0]
    t_out = model.tensors[model.outputs[0]]
    return out, dequantize(out, t_out.scale, t_out.zero_point)
