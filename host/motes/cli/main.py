"""The `motes` command: one table, `VERBS`, maps each verb to its handler `do_<verb>(args)`, its
argument builder `add_<verb>(parser)` and its help line."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .. import __version__, api
from . import board_verbs as board_cli
from ..learn import record, train
from ..run import report, report_html
from .. import mote as mote_format
from ..compiler.graph import ModelError


def _say(msg: str) -> None:
    print(f"  {msg}", file=sys.stderr, flush=True)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name, then rename: an interrupted write leaves no half file."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def _labels(arg: str | None) -> list[str] | None:
    if not arg:
        return None
    p = Path(arg)
    if p.exists():
        return [line.strip() for line in p.read_text().splitlines() if line.strip()]
    return [s.strip() for s in arg.split(",")]


def _meta(args) -> dict:
    """What --labels and --meta put in a .mote (convert, compress)."""
    meta = {}
    if args.labels:
        meta["labels"] = _labels(args.labels)
    if args.meta:
        try:
            meta.update(json.loads(Path(args.meta).read_text()))
        except (OSError, ValueError) as e:
            raise ModelError(f"--meta {args.meta}: {e}") from e
    return meta


def do_convert(args) -> int:
    src = Path(args.model)
    out = Path(args.output) if args.output else src.with_suffix(".mote")
    meta = _meta(args)
    print(f"converting {src}", file=sys.stderr)
    t0 = time.perf_counter()
    conv = api.convert(src, calibration=args.calib, meta=meta, per_channel=not args.per_tensor,
                       progress=_say, interleave=not args.no_interleave)
    n_out = conv.model.tensors[conv.model.outputs[0]].shape[-1]
    if "labels" in meta and len(meta["labels"]) != n_out:
        raise ModelError(f"{len(meta['labels'])} labels given but the model has {n_out} outputs")
    _write_atomic(out, conv.data)
    info = report.summary(conv.model, len(conv.data), len(conv.tflite))
    print(f"wrote {out} (format 1.{mote_format.written_minor(conv.model)}): {len(conv.data):,} bytes from {len(conv.tflite):,} bytes of int8 .tflite "
          f"(ratio {info['ratio']:.4f}) in {time.perf_counter() - t0:.2f} s")
    w = info["weights"]
    print(f"  weights {w:,}: {info['weights_raw_bytes']:,} -> {info['weights_packed_bytes']:,} bytes "
          f"({8 * info['weights_packed_bytes'] / w if w else 0:.2f} bits/weight); arena {info['arena_bytes']:,} bytes; "
          f"{info['macs']:,} MACs")
    return 0


def do_inspect(args) -> int:
    model, size, src_size = api.load_model(args.model)
    info = report.summary(model, size, src_size)
    print(json.dumps(info, indent=1) if args.json else report.format_table(info))
    return 0


def _load_input(path: str) -> np.ndarray:
    """--input: numbers from a .npy, a .csv or raw int8 bytes; anything else is one ModelError."""
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"--input {p}: not found")
    try:
        if p.suffix == ".npy":
            x = np.load(p, allow_pickle=False)
        elif p.suffix == ".csv":
            x = np.loadtxt(p, delimiter=",", dtype=np.float32, ndmin=1)
        else:
            x = np.frombuffer(p.read_bytes(), dtype=np.int8)  # raw int8 bytes
    except (ValueError, EOFError) as e:
        # an empty file, an object array (pickles are never loaded), text in a CSV
        raise ModelError(f"--input {p}: not a readable {p.suffix or 'raw int8'} file of numbers "
                         f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    if x.dtype.kind not in "biuf":
        raise ModelError(f"--input {p}: holds {x.dtype} values; it must be numbers")
    return x


def do_run(args) -> int:
    from ..run.compare import run_engine
    data, model = _mote_bytes(args.model)
    t_in = model.tensors[model.inputs[0]]
    x = _load_input(args.input)
    if x.size != t_in.nbytes:
        raise ModelError(f"--input {args.input} has {x.size} values; the model wants {t_in.nbytes} "
                         f"(shape {t_in.shape})")
    xq = x.astype(np.int8) if x.dtype == np.int8 else api.quantize_model_input(model, x.reshape(1, -1))[0]
    outs, info = run_engine(data, [xq.reshape(t_in.shape)], args.engine, heap=args.heap, mode=args.mode,
                            backend=args.backend, rom=args.romfs, board=args.board, name=args.model)
    for key in ("us_per_inference", "instructions_per_inference"):
        if key in info:             # one input: one figure
            info[key] = info[key][0]
    per = []        # every output of the model, in its order: int8 and dequantized
    for k, o in enumerate(outs[0]):
        t = model.tensors[model.outputs[k]]
        o = np.asarray(o, dtype=np.int8)
        per.append(dict(output=[float(v) for v in api.dequantize(o, t.scale, t.zero_point).ravel()],
                        output_int8=[int(v) for v in o.ravel()]))
    out = dict(**per[0], **info)
    more = per[1:]
    if more:
        out["more_outputs"] = more
    labels = model.meta.get("labels")
    if labels:
        out["label"] = labels[int(np.argmax(out["output_int8"]))]
    if args.json:
        print(json.dumps(out))
    else:
        print("output (int8):", out["output_int8"])
        print("output (float):", [round(v, 5) for v in out["output"]])
        for k, m in enumerate(more, 1):
            print(f"output {k} (int8):", m["output_int8"])
            print(f"output {k} (float):", [round(v, 5) for v in m["output"]])
        if labels:
            print("label:", out["label"])
        if args.engine == "micropython":
            where = f"{info['board']} board" if "board" in info else "unix port"
            print(f"micropython ({where}): {info['backend']} backend, {info['mode']} mode, "
                  f"peak heap {info['peak_heap_bytes']:,} bytes"
                  + (f", {info['instructions_per_inference']:,} instructions" if "board" in info else ""))
    return 0


def _mote_bytes(path):
    """The .mote bytes of a .mote or .tflite path, and the model read from them."""
    from ..mote import from_bytes
    data, _ = api.mote_bytes(path)
    return data, from_bytes(data, str(path))


def do_compare(args) -> int:
    from ..run.compare import compare, random_inputs
    from ..mote import from_bytes
    src = Path(args.model)
    conv = api.convert(src)
    data = Path(args.mote).read_bytes() if args.mote else conv.data
    inputs = random_inputs(from_bytes(data, args.mote or str(src)), args.n, args.seed)
    result = compare(conv.tflite, data, inputs, engine=args.engine, heap=args.heap, mode=args.mode,
                     backend=args.backend, rom=args.romfs, board=args.board)
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "bit-exact" if result["mismatches"] == 0 else "DIFFERENT"
        print(f"{src.name}: {verdict} with TFLM on {result['n']} random int8 inputs "
              f"({result['mismatches']} of {result['elements']} output values"
              + (f" of its {result['outputs']} outputs" if result["outputs"] > 1 else "")
              + f" differ, max |diff| "
              f"{result['max_abs_diff']}, engine {result['engine']})")
    return 0 if result["mismatches"] == 0 else 1


def _engine_options(s) -> None:
    s.add_argument("--engine", default="numpy", choices=["numpy", "micropython"],
                   help="numpy reference on the host, or the device runtime in the unix MicroPython")
    s.add_argument("--board", choices=["m3", "m0", "m0-no-native", "rv32"],
                   help="micropython: run on an emulated 32-bit board (real MicroPython firmware under "
                        "QEMU: its heap, its native code, time in instructions) instead of the unix port")
    s.add_argument("--heap", help="micropython: heap size like a board's, e.g. 128K (boards: m3 only)")
    s.add_argument("--mode", choices=["resident", "streaming"], help="micropython: load mode (default: auto)")
    s.add_argument("--backend", choices=["python", "viper", "native"], help="micropython: kernels to use")
    s.add_argument("--romfs", action="store_true",
                   help="micropython: run the runtime from an emulated ROMFS partition, as firmware built "
                        "with ROMFS does (its code then stays out of the heap)")


def do_evaluate(args) -> int:
    from ..learn import evaluate
    result = evaluate.evaluate(args.model, args.data, engine=args.engine, task=args.task, label=args.label,
                               heap=args.heap, board=args.board, backend=args.backend)
    print(json.dumps(result) if args.json else evaluate.format_table(result))
    return 0


def do_compress(args) -> int:
    from ..learn import compress, evaluate
    x, y = evaluate.load_data(args.data, args.label)
    xv = yv = None
    if args.val:
        xv, yv = evaluate.load_data(args.val, args.label)
    if not (args.prune or args.cluster or args.student_width or args.student or args.structured or args.qat):
        raise ModelError("choose at least one stage: --structured FRACTION, --prune FRACTION, --cluster K, "
                         "--qat, --student-width W, --student MODEL")
    meta = _meta(args)
    t0 = time.perf_counter()
    res = compress.compress(args.model, x, y, xv, yv, prune=args.prune, cluster=args.cluster, meta=meta or None,
                            distil_width=args.student_width, student=args.student, structured_fraction=args.structured,
                            quantize_aware=args.qat, keep_stages=args.keep_stages,
                            epochs=args.epochs, batch=args.batch, seed=args.seed,
                            progress=None if args.json else _say)
    out = Path(args.output)
    _write_atomic(out, res.mote)
    task = "regress" if res.model.outputs[0].shape[-1] == 1 else "classify"
    if args.plot:
        compress.plot(res.stages, Path(args.plot), task)
    if args.json:
        print(json.dumps({"stages": [s.row() for s in res.stages], "output": str(out)}))
    else:
        print(compress.format_table(res.stages, task))
        print(f"wrote {out} ({len(res.mote):,} bytes) in {time.perf_counter() - t0:.0f} s"
              + (f"; plot {args.plot}" if args.plot else ""))
    return 0


def do_bench(args) -> int:
    from ..m0 import bench as bench_m0
    return bench_m0.run(args)


def add_convert(s) -> None:
    s.add_argument("model", help=".tflite, .keras, .h5 or SavedModel folder")
    s.add_argument("-o", "--output", help="output .mote (default: next to the model)")
    s.add_argument("--calib", help="calibration data for Keras models (.npy, .npz, .csv)")
    s.add_argument("--labels", help="comma-separated labels, or a file with one per line")
    s.add_argument("--meta", help="JSON file with extra metadata (e.g. preprocessing)")
    s.add_argument("--per-tensor", action="store_true", help="Keras: per-tensor instead of per-channel weights")
    s.add_argument("--no-interleave", action="store_true",
                   help="keep every FULLY_CONNECTED / CONV_2D weight matrix row-major (a format 1.1 file, "
                        "for runtimes older than 1.2); by default they are interleaved where format 1.2 "
                        "allows (docs/FORMAT.md, Interleaved weights)")


def add_inspect(s) -> None:
    s.add_argument("model", help=".mote or .tflite")
    s.add_argument("--json", action="store_true")


def add_run(s) -> None:
    s.add_argument("model", help=".mote or .tflite")
    s.add_argument("--input", required=True, help=".npy (float or int8), .csv, or raw int8 bytes")
    _engine_options(s)
    s.add_argument("--json", action="store_true")


def add_compare(s) -> None:
    s.add_argument("model", help="the int8 .tflite (the reference)")
    s.add_argument("--mote", help="the .mote to check (default: convert the .tflite in memory)")
    s.add_argument("--n", type=int, default=50, help="number of random inputs (default 50)")
    s.add_argument("--seed", type=int, default=0)
    _engine_options(s)
    s.add_argument("--json", action="store_true")


def add_compress(s) -> None:
    s.add_argument("model", help="the trained Keras model (.keras)")
    s.add_argument("--data", required=True, help="training data: .npz (x, y) or .csv with --label")
    s.add_argument("--val", help="validation data for the rows (default: a seeded fifth of --data)")
    s.add_argument("--label", help="CSV: the label column")
    s.add_argument("--prune", type=float, metavar="FRACTION",
                   help="unstructured magnitude pruning to this sparsity (e.g. 0.8)")
    s.add_argument("--cluster", type=int, metavar="K", help="at most K shared values per kernel")
    s.add_argument("--structured", type=float, metavar="FRACTION",
                   help="remove this fraction of the filters and units (smallest L1 norm) and rebuild")
    s.add_argument("--qat", action="store_true", help="quantization-aware fine-tuning (after pruning)")
    s.add_argument("--student-width", type=float, metavar="W",
                   help="distil into the same architecture with W times the filters and units")
    s.add_argument("--student", metavar="MODEL",
                   help="distil into this Keras model (.keras: any architecture with the same input "
                        "and output; it trains from the weights it holds)")
    s.add_argument("--epochs", type=int, default=8, help="fine-tuning epochs per stage (default 8)")
    s.add_argument("--batch", type=int, default=32, help="training batch size (default 32)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--labels", help="comma-separated labels (or a file), as motes convert takes them")
    s.add_argument("--meta", help="JSON file with extra metadata, as motes convert takes it")
    s.add_argument("-o", "--output", required=True, help="the .mote of the last stage")
    s.add_argument("--plot", help="save accuracy against size and MACs (PNG)")
    s.add_argument("--keep-stages", action="store_true",
                   help="also store the table of stages in the .mote's meta, for motes report (about "
                        "50 bytes a stage, in the file and in the board's RAM)")
    s.add_argument("--json", action="store_true")


def add_evaluate(s) -> None:
    s.add_argument("model", help=".mote, int8 .tflite, or a Keras model (the float baseline)")
    s.add_argument("--data", required=True, help=".npz with arrays x and y, or a .csv with --label")
    s.add_argument("--label", help="CSV: the column with the true answer (the others are the features)")
    s.add_argument("--task", choices=["classify", "regress"],
                   help="default: regress for a model with one output value, else classify")
    _engine_options(s)
    s.add_argument("--json", action="store_true")


def add_bench(s) -> None:
    from ..m0 import bench as bench_m0
    bench_m0.add_arguments(s)


# verb: (handler, argument builder, help). The handler takes the parsed arguments and
# returns the exit status; a ModelError or BoardError it raises becomes one line.
VERBS = {
    "convert": (do_convert, add_convert,
                "turn an int8 .tflite (or a Keras model + calibration data) into a .mote"),
    "inspect": (do_inspect, add_inspect, "per-layer table of a .mote or .tflite: shapes, MACs, sizes, RAM"),
    "run": (do_run, add_run,
            "run a model on one input: numpy reference, or the device runtime in MicroPython"),
    "compare": (do_compare, add_compare, "check motes against TensorFlow Lite Micro on random inputs"),
    "compress": (do_compress, add_compress,
                 "prune, cluster or distil a Keras model, fine-tuning after each stage; a row per stage"),
    "evaluate": (do_evaluate, add_evaluate,
                 "accuracy (or MAE/RMSE) on labelled data, computed as the board computes it"),
    "train": (train.do_train, train.add_arguments,
              "train a small model on a CSV of readings (motes record's) and write its .mote"),
    "report": (report_html.do_report, report_html.add_arguments,
               "one HTML page about a model: layers, bytes, RAM over the layers, M0 instructions, accuracy"),
    "bench": (do_bench, add_bench, "run a model layer by layer on an emulated Cortex-M0+ and count instructions"),
    "deploy": (board_cli.do_deploy, board_cli.add_deploy,
               "copy the runtime, a model and an example to a board (safe, changed files only)"),
    "emulate": (board_cli.do_emulate, board_cli.add_emulate,
                "an emulated board: the MicroPython unix port on a serial pseudo-terminal"),
    "flash": (board_cli.do_flash, board_cli.add_flash,
              "flash MicroPython firmware: esptool (ESP32) or UF2 copy (RP2040)"),
    "repl": (board_cli.do_repl, board_cli.add_repl,
             "MicroPython REPL on this computer with the runtime and a model loaded"),
    "record": (record.do_record, record.add_arguments,
               "record labelled sensor readings that a script on the board prints, into a CSV"),
    "romfs": (board_cli.do_romfs, board_cli.add_romfs,
              "a ROMFS image of the runtime (and models) for firmware built with ROMFS"),
    "build-device": (board_cli.do_build_device, board_cli.add_build_device,
                     "the runtime as .mpy files (and C kernels) for a board's architecture"),
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="motes", description="tiny machine learning for MicroPython boards")
    p.add_argument("--version", action="version", version=f"motes {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, add_arguments, help_text) in VERBS.items():
        add_arguments(sub.add_parser(verb, help=help_text, description=help_text))
    return p


def main(argv=None) -> int:
    parser = _parser()
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    handler = VERBS[args.verb][0]
    try:
        return handler(args)
    except (ModelError, OSError) as e:
        if args.debug:
            raise
        print(f"motes {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"motes {args.verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:   # noqa: BLE001 - a bug or an input nothing above named: one line, not a traceback
        if args.debug:
            raise
        print(f"motes {args.verb}: error: {type(e).__name__}: {_one_line(e)} (motes --debug {args.verb} ... "
              "shows the traceback; please report it)", file=sys.stderr)
        return 2


def _one_line(e: BaseException) -> str:
    return " / ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
