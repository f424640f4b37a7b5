"""`motes bench --isa armv6m MODEL [--json]`: a whole model, layer by layer, on an emulated Cortex-M0+.

Each layer whose op has a C kernel in ulab_kernels/ (FULLY_CONNECTED, CONV_2D,
DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, MAX_POOL_2D, ADD, SUB, MUL, SOFTMAX,
LOGISTIC, TANH, MEAN) runs as ARMv6-M code in the
unicorn emulator (see emu.py); its output is compared element by element
with the host numpy reference (motes.ops.evaluate_layer) on the same inputs,
and its executed instructions are counted. A RESHAPE / SQUEEZE / EXPAND_DIMS
whose output the plan put on its input's bytes does nothing on a board and
counts 0 ("alias"); the other ops have no C kernel (on a board they run in
Python) and are marked "python", uncounted. Ops without MACs (SOFTMAX, MEAN,
...) add their instructions to the total, so a model's instructions per MAC
counts them too. Every layer gets the reference
output of the layers before it as input, so one wrong kernel cannot hide or
cause another's error.

Each op's best case is its kernel on the shape it was tuned for
(REFERENCE_LAYERS, measured in the same emulator) or its cheapest layer in the
model; layers above SLOW_FACTOR times that are listed ("slow").
With decode=True (--decode) the layer's entropy-coded constants (codecs 1 and
2) are also decoded on the M0 by huffman.c, checked, and counted apart
(decode_instructions).

    bench(path_or_bytes) -> dict     JSON keys: model, isa, instructions, macs,
        macs_emulated, instructions_per_mac, exact, mismatches, layers[...],
        host_ops (the ops without a C kernel), best (op -> its best case),
        slow (indices of the layers above SLOW_FACTOR x their op's best),
        libgcc_helpers, kernel_sources
    add_arguments(parser) / run(args) for the CLI verb; main(argv) standalone.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..compiler import interleave
from . import emu as m0emu
from .. import ops
from .. import mote as mote_format
from ..compiler.graph import ModelError


# The shape each op's kernel was tuned for: label, op, input shape, m0emu.synthetic_layer options
REFERENCE_LAYERS = [
    ("fully connected 256->64", "FULLY_CONNECTED", (1, 256), dict(out_ch=64)),
    ("conv 3x3 16x16x16->16", "CONV_2D", (1, 16, 16, 16), dict(out_ch=16)),
    ("depthwise 3x3 16x16x32", "DEPTHWISE_CONV_2D", (1, 16, 16, 32), dict()),
    ("average pool 2x2 16x16x32", "AVERAGE_POOL_2D", (1, 16, 16, 32), dict(kernel=(2, 2), stride=(2, 2))),
    ("max pool 2x2 16x16x32", "MAX_POOL_2D", (1, 16, 16, 32), dict(kernel=(2, 2), stride=(2, 2))),
]
SLOW_FACTOR = 2.0
# "comparable sizes" (issue 17): a layer is measured against the cases of its op
# whose MACs per output value (the dot product's length, the taps of a pool)
# are within this factor of its own. Per output value a kernel pays
# requantization and set-up that a long dot product spreads thin (about 23
# instructions: 2.9 a MAC at 8 MACs an output, 0.1 at 256), so a 1x1 conv of
# depth 8 is not a slower kernel than one of depth 128, only a shorter one.
SIZE_FACTOR = 2.0


def per_output(macs: int, elements: int) -> float:
    """MACs per output value: the length of each output's dot product (taps for a pool)."""
    return macs / elements if elements else 0.0


def comparable(n: float, m: float) -> bool:
    return n > 0 and m > 0 and n / SIZE_FACTOR <= m <= n * SIZE_FACTOR


def reference_costs(emu, ops_wanted=None, prefix: str = "mk_") -> dict:
    """op -> (label, instructions per MAC, MACs per output) of REFERENCE_LAYERS on this
    emulator (checked exact)."""
    out = {}
    rng = np.random.default_rng(2024)
    for label, op, shape, kw in REFERENCE_LAYERS:
        if (ops_wanted is not None and op not in ops_wanted) or not m0emu.has_kernel(emu, op, prefix):
            continue
        layer, x, out_shape = m0emu.synthetic_layer(op, shape, rng, **kw)
        r = m0emu.run_layer(emu, layer, [x], [out_shape], prefix=prefix)
        if not np.array_equal(r.outputs[0], m0emu.reference(layer, [x], [out_shape])[0]):
            raise m0emu.M0Error(f"{label}: the kernel's output differs from the reference")
        macs = ops.layer_macs(layer, [x.shape], [out_shape])
        out[op] = (label, r.instructions / macs, per_output(macs, int(np.prod(out_shape))))
    return out


def _load(path_or_bytes):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        data, name = bytes(path_or_bytes), "model"
    else:
        p = Path(path_or_bytes)
        if not p.exists():
            raise ModelError(f"{p} not found")
        data, name = p.read_bytes(), p.stem
        if data[4:8] == b"TFL3":
            from .. import api
            data = api.convert(p).data
    model = mote_format.from_bytes(data, name)
    for i, layer in enumerate(model.layers):
        if not layer.consts and model.packed[i]:
            layer.consts = model.decoded_consts(i)
    return model, name


def bench(path_or_bytes, seed: int = 0, inputs=None, sources=None, prefix: str = "mk_",
          emu: m0emu.M0 | None = None, progress=None, decode: bool = False) -> dict:
    """Run a .mote (path or bytes; a .tflite path is converted first) on the emulated M0.

    inputs: int8 arrays for the model inputs (default: seeded random int8).
    sources / prefix: another kernel build (e.g. bench/naive_kernels.c, "naive_").
    """
    model, name = _load(path_or_bytes)
    if emu is None:
        emu = m0emu.M0(m0emu.build(sources))
    vals = _model_inputs(model, inputs, seed)
    layers, host_ops = [], set()
    total_instr = total_macs = macs_emu = mismatches = total_decode = 0
    for i, layer in enumerate(model.layers):
        ins = [vals[t] for t in layer.inputs]
        out_infos = [model.tensors[t] for t in layer.outputs]
        out_shapes = [tuple(t.shape) for t in out_infos]
        refs = [np.zeros(t.shape, t.dtype) for t in out_infos]
        ops.evaluate_layer(interleave.deinterleave_layer(layer), ins, refs)   # (TFLM's order)
        macs = ops.layer_macs(layer, [a.shape for a in ins], out_shapes)
        total_macs += macs
        row = dict(index=i, op=layer.op, input=list(ins[0].shape) if ins else [],
                   output=list(out_shapes[0]) if out_shapes else [], macs=macs,
                   elements=int(np.prod(out_shapes[0])) if out_shapes else 0)
        if decode:
            mismatches += _decode_layer(emu, model.packed[i], row)
            total_decode += row["decode_instructions"]
        aliased = (getattr(ops.module_for(layer.op), "ALIAS", False) and len(layer.inputs) == 1
                   and model.tensors[layer.inputs[0]].offset == model.tensors[layer.outputs[0]].offset)
        if aliased:
            row.update(backend="alias", instructions=0, instructions_per_mac=None, exact=True,
                       mismatches=0, max_abs_diff=0)
        elif m0emu.has_kernel(emu, layer.op, prefix):
            r = m0emu.run_layer(emu, layer, ins, out_shapes, prefix=prefix)
            diff = np.abs(r.outputs[0].astype(np.int32) - refs[0].astype(np.int32))
            bad = int(np.count_nonzero(diff))
            mismatches += bad
            total_instr += r.instructions
            macs_emu += macs
            row.update(backend="m0", instructions=r.instructions,
                       instructions_per_mac=round(r.instructions / macs, 3) if macs else None,
                       exact=bad == 0, mismatches=bad, max_abs_diff=int(diff.max(initial=0)))
        else:
            host_ops.add(layer.op)
            row.update(backend="python", instructions=None, instructions_per_mac=None,
                       exact=None, mismatches=None, max_abs_diff=None)
        layers.append(row)
        if progress:
            progress(row)
        for t, a in zip(layer.outputs, refs):
            vals[t] = a
    best, slow, compared = _best_and_slow(emu, layers, prefix)
    return dict(
        model=name, isa="armv6m", best=best, slow=slow, compared=compared, cpu="Cortex-M0 (unicorn), code built for -mcpu=cortex-m0plus",
        instructions=total_instr, macs=total_macs, macs_emulated=macs_emu,
        instructions_per_mac=round(total_instr / macs_emu, 3) if macs_emu else None,
        exact=mismatches == 0, mismatches=mismatches, layers=layers, host_ops=sorted(host_ops),
        decode_instructions=total_decode if decode else None,
        libgcc_helpers=emu.image.libgcc_helpers, external_symbols=emu.image.external,
        kernel_sources=[Path(s).name for s in emu.image.sources])


def _model_inputs(model, inputs, seed: int) -> dict[int, np.ndarray]:
    """The model's input tensors: the given arrays, else seeded random values over the dtype's range."""
    rng = np.random.default_rng(seed)
    vals: dict[int, np.ndarray] = {}
    for k, idx in enumerate(model.inputs):
        t = model.tensors[idx]
        if inputs is not None:
            vals[idx] = np.asarray(inputs[k]).reshape(t.shape).astype(t.dtype)
        else:
            info = np.iinfo(t.dtype) if np.issubdtype(np.dtype(t.dtype), np.integer) else None
            vals[idx] = (rng.integers(info.min, info.max + 1, size=t.shape).astype(t.dtype) if info
                         else rng.standard_normal(t.shape).astype(t.dtype))
    return vals


def _decode_layer(emu: m0emu.M0, packed: dict, row: dict) -> int:
    """Decode a layer's packed constants with the C decoders in the image (codecs without one
    are skipped); sets row's decode_exact and decode_instructions, returns the mismatches."""
    decoders = {1: ("mk_huff_decode", m0emu.huffman_decode), 2: ("mk_zrun_decode", m0emu.zerorun_decode)}
    n_dec = mismatches = 0
    row["decode_exact"] = True
    for cname, pc in packed.items():
        sym, fn = decoders.get(pc.codec, (None, None))
        if fn is None or not emu.has(sym):
            continue
        r = fn(emu, pc.payload, pc.count)
        if not np.array_equal(r.values.view(np.int8).reshape(-1), pc.decode().reshape(-1)):
            mismatches += 1
            row["decode_exact"] = False
        n_dec += r.table_instructions + r.decode_instructions
    row["decode_instructions"] = n_dec
    return mismatches


def _best_and_slow(emu: m0emu.M0, layers: list[dict], prefix: str) -> tuple[dict, list[int], dict]:
    """The fewest instructions per MAC seen for each op (reference cases and these layers);
    the layers slower than SLOW_FACTOR times the fewest of their op on comparable sizes
    (comparable()), and for each layer that comparable best."""
    cases = [(op, label, v, n) for op, (label, v, n) in
             reference_costs(emu, {r["op"] for r in layers if r["backend"] == "m0"}, prefix).items()]
    cases += [(r["op"], f"layer {r['index']}", r["instructions_per_mac"], per_output(r["macs"], r["elements"]))
              for r in layers if r["instructions_per_mac"] is not None]
    best = {}
    for op, label, v, _ in cases:
        if op not in best or v < best[op]["instructions_per_mac"]:
            best[op] = dict(case=label, instructions_per_mac=round(v, 3))
    slow, compared = [], {}
    for r in layers:
        v = r["instructions_per_mac"]
        if v is None:
            continue
        n = per_output(r["macs"], r["elements"])
        w, label = min((c[2], c[1]) for c in cases if c[0] == r["op"] and comparable(n, c[3]))
        compared[r["index"]] = dict(case=label, instructions_per_mac=round(w, 3))
        if v > SLOW_FACTOR * w:
            slow.append(r["index"])
    return best, slow, compared


def format_table(result: dict) -> str:
    lines = [f"{result['model']}: {result['isa']} ({result['cpu']})",
             f"{'#':>3}  {'op':<18} {'output':<16} {'MACs':>10} {'instructions':>13} {'instr/MAC':>9}  check"]
    for r in result["layers"]:
        shape = "x".join(map(str, r["output"]))
        if r["backend"] == "m0":
            ipm = f"{r['instructions_per_mac']:.2f}" if r["instructions_per_mac"] is not None else "-"
            check = "exact" if r["exact"] else f"DIFFERENT ({r['mismatches']} values, max {r['max_abs_diff']})"
            lines.append(f"{r['index']:>3}  {r['op']:<18} {shape:<16} {r['macs']:>10,} "
                         f"{r['instructions']:>13,} {ipm:>9}  {check}")
        elif r["backend"] == "alias":
            lines.append(f"{r['index']:>3}  {r['op']:<18} {shape:<16} {r['macs']:>10,} "
                         f"{0:>13} {'-':>9}  (alias: the output is the input's bytes)")
        else:
            lines.append(f"{r['index']:>3}  {r['op']:<18} {shape:<16} {r['macs']:>10,} "
                         f"{'python':>13} {'-':>9}  (no C kernel: Python on a board, not counted)")
    ipm = result["instructions_per_mac"]
    lines.append(f"total: {result['instructions']:,} instructions on the M0 for {result['macs_emulated']:,} "
                 f"of {result['macs']:,} MACs" + (f", {ipm:.2f} instructions/MAC" if ipm else ""))
    if result.get("decode_instructions") is not None:
        lines.append(f"decoding the entropy-coded weights on the M0: {result['decode_instructions']:,} instructions")
    if result["host_ops"]:
        lines.append("no C kernel (Python on a board, not counted): " + ", ".join(result["host_ops"]))
    if result["slow"]:
        lines.append(f"above {SLOW_FACTOR:g}x the best kernel of their op on comparable sizes "
                     f"(MACs per output within {SIZE_FACTOR:g}x):")
        by_index = {r["index"]: r for r in result["layers"]}
        for i in result["slow"]:
            r, b = by_index[i], result["compared"][i]
            lines.append(f"  #{i} {r['op']} {'x'.join(map(str, r['input']))} -> {'x'.join(map(str, r['output']))}: "
                         f"{r['instructions_per_mac']:.2f} instructions/MAC, "
                         f"{r['instructions_per_mac'] / b['instructions_per_mac']:.1f}x the best "
                         f"({b['case']}: {b['instructions_per_mac']:.2f})")
    elif result["best"]:
        lines.append(f"no layer above {SLOW_FACTOR:g}x the best kernel of its op on comparable sizes")
    if result["libgcc_helpers"]:
        lines.append("kernels call libgcc helpers: " + ", ".join(result["libgcc_helpers"])
                     + " (the natmod build cannot link libgcc)")
    lines.append("every emulated layer matches the host reference" if result["exact"]
                 else f"MISMATCH: {result['mismatches']} output values differ from the host reference")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help=".mote or .tflite")
    parser.add_argument("--isa", default="armv6m", choices=["armv6m"],
                        help="instruction set to emulate: armv6m (RP2040, Cortex-M0+)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random int8 input")
    parser.add_argument("--decode", action="store_true",
                        help="also decode the Huffman / zero-run coded weights on the M0 and count it")
    parser.add_argument("--json", action="store_true")


def run(args) -> int:
    """The CLI verb: 0 when every emulated layer is bit-exact, 1 when one is not, 2 on errors."""
    try:
        result = bench(args.model, seed=args.seed, decode=getattr(args, "decode", False))
    except (ModelError, m0emu.M0Error, m0emu.M0Fault, OSError) as e:
        print(f"motes bench: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_table(result))
    return 0 if result["exact"] else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="motes bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
