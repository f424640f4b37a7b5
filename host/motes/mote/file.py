"""A whole .mote file: a MoteModel to bytes and back (docs/FORMAT.md)."""
from __future__ import annotations

import json

from ..compiler import interleave as IL
from .consts import decode_consts
from .container import MAJOR, SEC_GRAPH, SEC_LAYER, SEC_META, SEC_TENSORS, FormatError, iter_sections, read_header, \
    write_container
from .metajson import board_json
from .model import MoteModel, channels_of
from .tables import const_names, decode_graph, decode_layer_data, decode_tensors, encode_graph, \
    encode_layer_data, encode_tensors
from .verify import verify


def written_minor(model: MoteModel) -> int:
    """The minor version to_bytes writes: 0 for the 1.0 layout, else 2 when a layer is
    interleaved (format 1.2), else 1."""
    interleaved = [i for i, layer in enumerate(model.layers) if layer.interleaved]
    if model.minor == 0:
        if interleaved:
            raise FormatError(f"layer {interleaved[0]} is interleaved (format 1.2), which the 1.0 layout "
                              "(minor 0) cannot hold")
        return 0
    return 2 if interleaved else 1


def to_bytes(model: MoteModel) -> bytes:
    minor = written_minor(model)
    meta = json.dumps(model.meta, separators=(",", ":"), sort_keys=True).encode() if model.meta else b""
    sections = [(SEC_META, meta)] if meta else []
    sections += [(SEC_TENSORS, encode_tensors(model)), (SEC_GRAPH, encode_graph(model))]
    implied = model.tensors if model.minor >= 1 else None
    sections += [(SEC_LAYER, encode_layer_data(layer, packed, channels_of(layer, implied)))
                 for layer, packed in zip(model.layers, model.packed) if packed]
    return write_container(sections, minor)


def _interleave_problem(layer, packed: dict, tensors, minor: int) -> str | None:
    """What breaks format 1.2's rules for an interleaved layer as stored, or None."""
    if minor < 2:
        return f"the file is version {MAJOR}.{minor} (interleaved layers are format 1.2)"
    shape = tensors[layer.inputs[0]].shape if layer.inputs else ()
    return IL.problem(layer.op, layer.params, packed.get("weights"), packed.get("bias"),
                      int(shape[-1]) if shape else None, stored=True)


def from_bytes(data: bytes, what: str = "file", decode: bool = True, check: bool = True) -> MoteModel:
    """Read a .mote. check=False skips the graph checks (verify()): only for tools and tests
    that take a file's structure apart, never to run a model."""
    data = bytes(data)
    _, minor, _ = read_header(data, what)
    meta, tensors, graph = {}, None, None
    layer_sections = []
    for kind, _, payload in iter_sections(data, what):
        if kind == SEC_META:
            try:
                meta = board_json(payload)
            except ValueError:
                meta = None
            if not isinstance(meta, dict):
                raise FormatError(f"{what}: metadata is not a JSON object")
        elif kind == SEC_TENSORS:
            tensors = decode_tensors(payload, what)
        elif kind == SEC_GRAPH:
            graph = decode_graph(payload, len(tensors), what)
        elif kind == SEC_LAYER:
            layer_sections.append(payload)
        # unknown section kinds are skipped: minor versions may add them
    if tensors is None or graph is None:
        raise FormatError(f"{what}: no tensor table or graph")
    arena, inputs, outputs, layers, masks = graph
    packed = [dict() for _ in layers]
    with_consts = [i for i, m in enumerate(masks) if m]
    if len(layer_sections) != len(with_consts):
        raise FormatError(f"{what}: {len(layer_sections)} layer data sections for {len(with_consts)} "
                          "layers with constants")
    for i, payload in zip(with_consts, layer_sections):
        packed[i] = decode_layer_data(payload, i, layers[i], masks[i], tensors, what)
    model = MoteModel(meta, tensors, layers, inputs, outputs, arena, packed, minor)
    for i, layer in enumerate(layers):
        want = [n for bit, n in enumerate(const_names(layer.op)) if masks[i] >> bit & 1]
        if sorted(want) != sorted(packed[i]):
            raise FormatError(f"{what}: layer {i} ({layer.op}) is missing its weight section")
        if layer.interleaved:
            problem = _interleave_problem(layer, packed[i], tensors, minor)
            if problem:
                raise FormatError(f"{what}: layer {i} ({layer.op}) is interleaved but {problem}")
    if check:
        verify(model, what)
    for i, layer in enumerate(layers):
        if decode:
            try:
                consts, filter_scale = decode_consts(layer, packed[i], tensors)
            except FormatError as e:
                raise FormatError(f"{what}: layer {i}: {e}") from None
            # the layers are this reader's own, built above: filled in here, once
            layer.consts = consts
            if filter_scale is not None:
                layer.filter_scale = filter_scale
    return model


def load(path) -> MoteModel:
    with open(path, "rb") as f:
        return from_bytes(f.read(), what=str(path))
