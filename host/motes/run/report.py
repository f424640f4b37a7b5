"""What is inside a .mote: per-layer shapes, MACs, sizes, entropy bounds and RAM.

Used by `motes inspect` and `motes convert`. Terms:
- weights: int8 constant arrays (filters, matrices, constant operands);
- params: the other constants (int32 bias, per-channel multipliers and shifts;
  raw counts the arrays the device holds, packed what the file stores, e.g.
  filter scales instead of multipliers and shifts, see docs/FORMAT.md);
- entropy bound: order-0 entropy of each weight tensor (bits / 8): what an ideal
  symbol-by-symbol coder with a free code table would need;
- table bytes: the code tables in the payloads; for a tensor stored raw (because
  no entropy coder beat raw), the table the Huffman coder would have needed,
  so that "packed <= entropy bound + tables" compares like with like;
- peak_ram_resident: activation arena + every layer's constants decoded;
- peak_ram_streaming: arena + the most any one layer holds while it runs in
  the device's streaming mode: its small constants whole, a weight matrix only
  STREAM_CHUNK bytes of rows at a time, the decoder tables of entropy-coded
  arrays, and the file read buffer.
Interpreter objects and code are not counted (see the device memory figures of
`motes run --engine micropython` for a whole-runtime measurement).
"""
from __future__ import annotations

import numpy as np

from .. import codecs, ops
from ..mote import MoteModel

STREAM_BUFFER = 512    # device: file read buffer and decoder state (device/motes/net.py)
STREAM_TABLES = 2048   # device: Huffman decoding tables of one entropy-coded array
STREAM_CHUNK = 2048    # device: bytes of weight rows decoded at a time in streaming mode


def streaming_bytes(op: str, packed: dict, interleaved: bool = False) -> int:
    """What a layer holds in streaming mode (mirrors Net._largest_stream_need on the device)."""
    need = STREAM_BUFFER
    slots = ops.module_for(op).CONSTS
    for name, pc in packed.items():
        slot = slots.index(name)
        n = pc.raw_bytes
        if slot == 0 and len(pc.shape) > 1 and pc.shape[0] > 1:  # weights: streamed by rows
            row = n // pc.shape[0]
            if interleaved:      # format 1.2: by groups of 8 output channels
                row *= min(8, pc.shape[0])
            n = min(n, max(row, (STREAM_CHUNK // row) * row))   # (a smaller matrix: its own bytes)
        if pc.codec_name in ("huffman", "zerorun"):
            n += STREAM_TABLES
        elif pc.codec_name == "scales":        # the rebuilt int8 shifts come with the multipliers
            n += pc.count
        need += n
    return need


def is_weight(name: str, dtype: str) -> bool:
    return dtype == "int8" and not name.endswith("shift")


def layer_rows(model: MoteModel) -> list[dict]:
    rows = []
    for i, (layer, packed) in enumerate(zip(model.layers, model.packed)):
        in_shapes = [model.tensors[t].shape for t in layer.inputs]
        out_shapes = [model.tensors[t].shape for t in layer.outputs]
        row = dict(index=i, op=layer.op, inputs=[list(s) for s in in_shapes],
                   outputs=[list(s) for s in out_shapes],
                   macs=ops.layer_macs(layer, in_shapes, out_shapes),
                   weights=0, weights_raw_bytes=0, weights_packed_bytes=0, table_bytes=0,
                   entropy_bound_bytes=0.0, params_raw_bytes=0, params_packed_bytes=0,
                   decoded_bytes=0, codecs=[], interleaved=bool(layer.interleaved))
        for name, pc in packed.items():
            row["decoded_bytes"] += pc.raw_bytes
            if pc.codec_name == "scales":           # multipliers (int32) and shifts (int8) rebuilt
                row["decoded_bytes"] += pc.count
                row["params_raw_bytes"] += pc.count
            if is_weight(name, pc.dtype):
                values = layer.consts[name] if name in layer.consts else pc.decode()
                row["weights"] += pc.count
                row["weights_raw_bytes"] += pc.raw_bytes
                row["weights_packed_bytes"] += len(pc.payload)
                codec = codecs.CODECS[pc.codec]
                if codec.name == "raw":  # the table an entropy coder would have had to send
                    huff = codecs.by_name("huffman")
                    codec, payload = huff, huff.encode(np.asarray(values).ravel())
                else:
                    payload = pc.payload
                row["table_bytes"] += codec.table_bytes(payload)
                row["entropy_bound_bytes"] += codecs.entropy_bits(np.asarray(values).ravel()) / 8
                row["codecs"].append(pc.codec_name)
            else:
                row["params_raw_bytes"] += pc.raw_bytes
                row["params_packed_bytes"] += len(pc.payload)
        row["streaming_bytes"] = streaming_bytes(layer.op, packed, layer.interleaved)
        row["bits_per_weight"] = (8.0 * row["weights_packed_bytes"] / row["weights"]) if row["weights"] else None
        row["entropy_bound_bytes"] = round(row["entropy_bound_bytes"], 1)
        rows.append(row)
    return rows


def summary(model: MoteModel, file_bytes: int, source_bytes: int | None = None) -> dict:
    rows = layer_rows(model)
    total = lambda key: sum(r[key] for r in rows)  # noqa: E731
    largest_stream = max((r["streaming_bytes"] for r in rows), default=0)
    out = dict(
        name=model.meta.get("name", ""),
        file_bytes=file_bytes,
        macs=total("macs"),
        layers_count=len(rows),
        format=f"1.{model.minor}",
        interleaved_layers=sum(r["interleaved"] for r in rows),
        arena_bytes=model.arena_size,
        weights=total("weights"),
        weights_raw_bytes=total("weights_raw_bytes"),
        weights_packed_bytes=total("weights_packed_bytes"),
        table_bytes=total("table_bytes"),
        entropy_bound_bytes=round(sum(r["entropy_bound_bytes"] for r in rows), 1),
        params_raw_bytes=total("params_raw_bytes"),
        params_packed_bytes=total("params_packed_bytes"),
        peak_ram_resident=model.arena_size + total("decoded_bytes"),
        peak_ram_streaming=model.arena_size + largest_stream,
        inputs=[dict(shape=list(model.tensors[t].shape), scale=model.tensors[t].scale,
                     zero_point=model.tensors[t].zero_point) for t in model.inputs],
        outputs=[dict(shape=list(model.tensors[t].shape), scale=model.tensors[t].scale,
                      zero_point=model.tensors[t].zero_point) for t in model.outputs],
        meta=model.meta,
        layers=rows,
    )
    if source_bytes:
        out["source_bytes"] = source_bytes
        out["ratio"] = round(file_bytes / source_bytes, 4)
    return out


def _fmt_shape(shapes) -> str:
    return ",".join("x".join(str(d) for d in s) for s in shapes)


def _kb(n) -> str:
    return f"{n / 1024:.1f}K" if n >= 1024 else f"{int(n)}"


def format_table(info: dict) -> str:
    head = f"{'#':>3} {'op':<18} {'input':<14} {'output':<14} {'MACs':>9} {'raw':>7} {'packed':>7} {'bits/w':>6} {'H0':>7}  codec"
    lines = [f"{info['name']}: {len(info['layers'])} layers, {info['macs']:,} MACs, format {info['format']}"
             f" ({info['interleaved_layers']} interleaved)", head, "-" * len(head)]
    for r in info["layers"]:
        bpw = f"{r['bits_per_weight']:.2f}" if r["bits_per_weight"] is not None else "-"
        lines.append(
            f"{r['index']:>3} {r['op']:<18} {_fmt_shape(r['inputs']):<14.14} {_fmt_shape(r['outputs']):<14.14} "
            f"{r['macs']:>9,} {_kb(r['weights_raw_bytes']):>7} {_kb(r['weights_packed_bytes']):>7} {bpw:>6} "
            f"{_kb(r['entropy_bound_bytes']):>7}  {','.join(r['codecs'])}{' interleaved' if r['interleaved'] else ''}")
    lines.append("-" * len(head))
    w = info["weights"]
    lines.append(f"weights   {w:,} int8: raw {info['weights_raw_bytes']:,} B -> packed {info['weights_packed_bytes']:,} B "
                 f"({8 * info['weights_packed_bytes'] / w if w else 0:.2f} bits/weight; entropy bound "
                 f"{info['entropy_bound_bytes']:,.0f} B + tables {info['table_bytes']:,} B)")
    lines.append(f"params    raw {info['params_raw_bytes']:,} B -> packed {info['params_packed_bytes']:,} B "
                 "(bias, multipliers, shifts)")
    size = f"file      {info['file_bytes']:,} B"
    if "source_bytes" in info:
        size += f" (.tflite {info['source_bytes']:,} B, ratio {info['ratio']:.3f})"
    lines.append(size)
    lines.append(f"RAM       arena {info['arena_bytes']:,} B; peak resident {info['peak_ram_resident']:,} B; "
                 f"peak streaming {info['peak_ram_streaming']:,} B")
    outs = info.get("outputs", [])
    if len(outs) > 1:   # (the board's predict gives the first; net.output(k) each)
        lines.append(f"outputs   {len(outs)}: " + ", ".join(f"{k} {_fmt_shape([o['shape']])}" for k, o in enumerate(outs))
                     + " (on a board: predict gives output 0, net.output(k) output k)")
    return "\n".join(lines)
