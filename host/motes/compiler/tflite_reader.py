"""Read a `.tflite` flatbuffer into a `motes.compiler.graph.Graph`.

Uses the `tflite` package (flatbuffers bindings, numpy only), so importing an
existing int8 model never needs TensorFlow. Builtin options are read
generically: every accessor of the options table becomes a snake_case key.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .graph import Graph, ModelError, Operator, Tensor

_TYPES = {  # tflite.TensorType value -> numpy dtype name
    0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
    7: "int16", 9: "int8", 10: "float64", 12: "uint64", 15: "uint32", 16: "uint16",
}


def _tflite():
    try:
        import tflite
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise ModelError("reading .tflite needs the 'tflite' package: pip install tflite") from e
    return tflite


def _enum_names(enum_cls) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


_SKIP = re.compile(r"^(Init|GetRootAs.*|.*BufferHasIdentifier|.*AsNumpy|.*IsNone|.*Length)$")


def _read_options(tfl, op) -> dict:
    """Builtin options of one operator as {snake_case_name: int | float | list}."""
    kind = op.BuiltinOptionsType()
    if kind == 0:
        return {}
    cls_name = _enum_names(tfl.BuiltinOptions).get(kind)
    cls = getattr(tfl, cls_name, None) if cls_name else None
    table = op.BuiltinOptions()
    if cls is None or table is None:
        return {}
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    out = {}
    for attr in dir(cls):
        if attr.startswith("_") or _SKIP.match(attr) or not callable(getattr(cls, attr)):
            continue
        if hasattr(cls, attr + "Length"):
            out[_snake(attr)] = [int(v) for v in getattr(opts, attr + "AsNumpy")()] \
                if getattr(opts, attr + "Length")() else []
        else:
            try:
                out[_snake(attr)] = getattr(opts, attr)()
            except TypeError:  # accessor that needs an argument: not a scalar field
                continue
    return out


def _buffer_data(model, buf_index: int, raw: bytes) -> bytes | None:
    if buf_index <= 0 or buf_index >= model.BuffersLength():
        return None
    buf = model.Buffers(buf_index)
    if buf.DataLength():
        return buf.DataAsNumpy().tobytes()
    offset = buf.Offset() if hasattr(buf, "Offset") else 0
    if offset > 1:  # large-model layout: data stored after the flatbuffer
        return raw[offset:offset + buf.Size()]
    return None


def _read_tensor(model, t, index: int, raw: bytes) -> Tensor:
    dtype = _TYPES.get(t.Type())
    if dtype is None:
        raise ModelError(f"tensor {index} has an unsupported element type (TensorType {t.Type()})")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    tensor = Tensor(index=index, name=(t.Name() or b"").decode("utf-8", "replace"),
                    shape=shape, dtype=dtype)
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        tensor.scale = q.ScaleAsNumpy().astype(np.float32)
        zp = q.ZeroPointAsNumpy() if q.ZeroPointLength() else np.zeros(len(tensor.scale))
        tensor.zero_point = np.asarray(zp, dtype=np.int64)
        tensor.quantized_dimension = int(q.QuantizedDimension())
    data = _buffer_data(model, t.Buffer(), raw)
    if data is not None:
        arr = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"))
        if arr.size != tensor.size:
            raise ModelError(f"tensor {tensor.name!r}: buffer holds {arr.size} values, "
                             f"shape {shape} needs {tensor.size}; the .tflite file is damaged")
        tensor.data = arr.astype(dtype).reshape(shape)
    return tensor


def read_tflite(path_or_bytes) -> Graph:
    """Parse a .tflite file (path or bytes) into a Graph of its first subgraph."""
    tfl = _tflite()
    if isinstance(path_or_bytes, (str, Path)):
        path = Path(path_or_bytes)
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise ModelError(f"cannot read {path}: {e.strerror}") from e
        name = path.stem
    else:
        raw, name = bytes(path_or_bytes), "model"
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        raise ModelError(f"{name}: not a TensorFlow Lite flatbuffer (no 'TFL3' identifier); "
                         "give an int8 .tflite file or a Keras model with calibration data")
    try:
        model = tfl.Model.GetRootAsModel(raw, 0)
        if model.SubgraphsLength() < 1:
            raise ModelError(f"{name}: the model has no subgraph")
        if model.SubgraphsLength() > 1:
            raise ModelError(f"{name}: {model.SubgraphsLength()} subgraphs; motes runs models "
                             "with one subgraph (no control flow ops such as WHILE or IF)")
        sub = model.Subgraphs(0)
        op_names = _enum_names(tfl.BuiltinOperator)
        codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
            if code == tfl.BuiltinOperator.CUSTOM:
                codes.append("CUSTOM:" + (oc.CustomCode() or b"?").decode())
            else:
                codes.append(op_names.get(code, f"UNKNOWN_{code}"))
        tensors = [_read_tensor(model, sub.Tensors(i), i, raw) for i in range(sub.TensorsLength())]
        ops = []
        for i in range(sub.OperatorsLength()):
            op = sub.Operators(i)
            ops.append(Operator(
                index=i, opcode=codes[op.OpcodeIndex()],
                inputs=[int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else [],
                outputs=[int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                options=_read_options(tfl, op)))
        inputs = [int(x) for x in sub.InputsAsNumpy()]
        outputs = [int(x) for x in sub.OutputsAsNumpy()]
    except ModelError:
        raise
    except Exception as e:  # flatbuffer decoding of a damaged file
        raise ModelError(f"{name}: damaged .tflite file ({type(e).__name__}: {e})") from e
    return Graph(name=name, tensors=tensors, operators=ops, inputs=inputs, outputs=outputs)
