"""motes vs TensorFlow Lite Micro on the same int8 inputs: count what differs.

Two engines run the .mote: `numpy` (the host reference executor) and
`micropython` (the device runtime inside the real MicroPython unix port).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..api import dequantize, quantize_input
from .executor import Executor
from ..mote import MoteModel, from_bytes
from ..compiler.graph import ModelError
from .oracle import TflmInterpreter
from ..compiler.tflite_reader import read_tflite

ENGINES = ("numpy", "micropython")


def random_inputs(model: MoteModel, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = model.tensors[model.inputs[0]].shape
    return [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]


def run_engine(mote: bytes, inputs: list[np.ndarray], engine: str = "numpy", heap=None, mode=None,
               backend=None, rom=False, board=None, name: str | None = None) -> tuple[list[list[np.ndarray]], dict]:
    """For each int8 input, every int8 output of a .mote (in the model's order), and what
    the engine reports.
    board: run the device runtime on an emulated 32-bit board (qemu_board.py)
    instead of the unix port. name: the user's file, named in errors instead of the
    temporary copy the device runtime reads."""
    if engine == "numpy":
        if board:
            raise ModelError("--board runs the device runtime: use it with --engine micropython")
        ex = Executor(from_bytes(mote))
        return [list(ex.run([x])) for x in inputs], {"engine": "numpy"}
    if engine == "micropython":
        from . import mpy_engine
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.mote"
            path.write_bytes(mote)
            try:
                if board:
                    if rom:
                        raise ModelError("--romfs is for the unix port: the boards with a ROMFS partition "
                                         "(m3, rv32) run the runtime from it anyway")
                    info = mpy_engine.run_board(path, inputs, board=board, heap=heap, mode=mode, backend=backend)
                else:
                    info = mpy_engine.run(path, inputs, heap=heap, mode=mode, backend=backend, rom=rom)
            except ModelError as e:
                if name is None:
                    raise
                msg = str(e)
                for p in (str(path.resolve()), str(path), "/rom/model.mote", "/remote/model.mote"):
                    msg = msg.replace(p, str(name))
                if str(name) not in msg:
                    msg = f"{name}: {msg}"
                raise ModelError(msg.replace("not enough memory", f"not enough memory in a {heap} heap")
                                 if heap else msg) from None
        info.pop("outputs")
        outputs = info.pop("all_outputs")
        info["engine"] = "micropython"
        return outputs, info
    raise ValueError(f"engine {engine!r}: use one of {', '.join(ENGINES)}")


def compare(tflite_bytes: bytes, mote: bytes, inputs: list[np.ndarray], engine: str = "numpy", **opts) -> dict:
    """Run every int8 input through TFLM and through motes; report element mismatches
    over every model output."""
    model = from_bytes(mote)
    graph = read_tflite(tflite_bytes)
    t_in = graph.tensors[graph.inputs[0]]
    m_in = model.tensors[model.inputs[0]]
    if len(graph.outputs) != len(model.outputs):
        raise ModelError(f"the .tflite has {len(graph.outputs)} outputs and the .mote "
                         f"{len(model.outputs)}: convert this .tflite again")
    oracle = TflmInterpreter(tflite_bytes)
    inputs = [np.asarray(x, dtype=np.int8).reshape(m_in.shape) for x in inputs]
    got, info = run_engine(mote, inputs, engine, **opts)
    mismatches = elements = max_diff = 0
    for x, ys in zip(inputs, got):
        fed = dequantize(x, m_in.scale, m_in.zero_point) if t_in.dtype == "float32" else x
        refs = oracle.run([fed.reshape(t_in.shape)])
        for k, (ref, y) in enumerate(zip(refs, ys)):
            m_out = model.tensors[model.outputs[k]]
            if graph.tensors[graph.outputs[k]].dtype == "float32":  # DEQUANTIZE at the edge: the exact int8
                ref = quantize_input(ref, m_out.scale, m_out.zero_point)
            diff = np.abs(ref.astype(np.int32).ravel() - np.asarray(y, dtype=np.int32).ravel())
            mismatches += int((diff != 0).sum())
            elements += diff.size
            max_diff = max(max_diff, int(diff.max(initial=0)))
    return dict(n=len(inputs), outputs=len(model.outputs), elements=elements, mismatches=mismatches,
                max_abs_diff=max_diff, **info)
