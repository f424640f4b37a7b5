"""The device runtime on the emulated 32-bit boards: instructions per inference and the smallest heap.

    .venv/bin/python bench/boards.py [--models a,b] [--boards m3,rv32] [--backends native,viper,python]
        [--modes resident,streaming] [--heap] [--plot bench/boards.png] [--json]

Real MicroPython firmware under QEMU (host/motes/board/qemu_board.py): the runtime,
model and inputs from ROMFS (m3, rv32) or over `mpremote mount` (the M0s),
time from the instruction clock (1 us = 1,000 guest instructions). Each row:
guest instructions per inference (median of --n seeded inputs), beside the
whole-model kernel count of `motes bench --isa armv6m` (the C kernels alone,
the Huffman decoding of the weights counted in streaming mode), and whether
the outputs equal the host executor's. --heap adds the smallest heap at which
the model loads and gives the reference output (m3 only, which takes its heap
size at boot; bisection in KB, a fresh board per try), and the instructions
at that heap: below some heap the constants are rebuilt per inference
instead of being prepared at load (docs/DEVICE.md).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from motes import api  # noqa: E402
from motes.m0 import bench as bench_m0  # noqa: E402
from motes.run import mpy_engine  # noqa: E402
from motes.run.executor import Executor  # noqa: E402
from motes.format import from_bytes  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
MODELS = ["micro_speech_quantized", "mlperf_tiny_kws_ref_model", "person_detect"]
BACKENDS = {"m3": "native,viper,python", "m0": "native,viper,python", "m0-no-native": "python",
            "rv32": "native,viper,python"}
TARGET_INSTR = {"micro_speech_quantized": 10e6, "mlperf_tiny_kws_ref_model": 19e6, "person_detect": 48e6}
TARGET_HEAP = {"micro_speech_quantized": 48, "mlperf_tiny_kws_ref_model": 64, "person_detect": 128}


def kernel_count(data: bytes, streaming: bool) -> int:
    r = bench_m0.bench(data, decode=streaming)
    return r["instructions"] + (r["decode_instructions"] or 0 if streaming else 0)


def smallest_heap(path, x, ref, mode, backend, lo=24, hi=190) -> tuple[int | None, int | None]:
    def runs(kb):
        try:
            r = mpy_engine.run_board(path, [x], board="m3", heap=kb * 1024, mode=mode, backend=backend,
                                     measure=False)
        except Exception:
            return None
        return r["instructions_per_inference"][0] if (r["outputs"][0].ravel() == ref).all() else None
    if runs(hi) is None:
        return None, None
    while lo < hi:
        mid = (lo + hi) // 2
        if runs(mid) is not None:
            hi = mid
        else:
            lo = mid + 1
    return lo, runs(lo)


def measure(name, board, backend, mode, n, heap) -> dict:
    data = api.convert(SHARED / f"{name}.tflite").data
    model = from_bytes(data)
    rng = np.random.default_rng(0)
    shape = model.tensors[model.inputs[0]].shape
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]
    ex = Executor(model)
    ref = [ex.run([x])[0].ravel() for x in xs]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.mote"
        path.write_bytes(data)
        r = mpy_engine.run_board(path, xs, board=board, mode=mode, backend=backend)
        row = dict(model=name, board=board, backend=r["backend"], mode=mode,
                   instructions=int(statistics.median(r["instructions_per_inference"])),
                   peak_live_heap=r["peak_heap_bytes"],
                   exact=all((o.ravel() == e).all() for o, e in zip(r["outputs"], ref)))
        if heap and board == "m3":
            row["min_heap_kb"], row["instructions_at_min_heap"] = smallest_heap(path, xs[0], ref[0], mode,
                                                                                backend)
    return row


def plot(rows, kernels, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = sorted({r["model"] for r in rows}, key=MODELS.index)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        sel = [r for r in rows if r["model"] == name]
        labels = [f"{r['board']}\n{r['backend']}\n{r['mode'][:3]}" for r in sel]
        ax.bar(range(len(sel)), [r["instructions"] / 1e6 for r in sel], color="#4a7fb0")
        for mode, style in (("resident", ":"), ("streaming", "--")):
            if (name, mode) in kernels:
                ax.axhline(kernels[name, mode] / 1e6, color="k", ls=style, lw=1,
                           label=f"C kernels alone ({mode})")
        if name in TARGET_INSTR:
            ax.axhline(TARGET_INSTR[name] / 1e6, color="#c0392b", lw=1, label="issue target (streaming)")
        ax.set_yscale("log")
        ax.set_xticks(range(len(sel)), labels, fontsize=7)
        ax.set_title(name)
        ax.set_ylabel("million guest instructions per inference")
        ax.legend(fontsize=7)
    fig.suptitle("motes on emulated 32-bit boards (MicroPython firmware under QEMU, instruction clock)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--boards", default="m3,rv32,m0,m0-no-native")
    ap.add_argument("--backends", help="default: every backend each board has")
    ap.add_argument("--modes", default="resident,streaming")
    ap.add_argument("--n", type=int, default=3, help="inputs per run")
    ap.add_argument("--heap", action="store_true", help="also bisect the smallest heap (m3)")
    ap.add_argument("--plot", help="save a plot (PNG)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows, kernels = [], {}
    for name in args.models.split(","):
        data = api.convert(SHARED / f"{name}.tflite").data
        for mode in args.modes.split(","):
            kernels[name, mode] = kernel_count(data, mode == "streaming")
        for board in args.boards.split(","):
            for backend in (args.backends or BACKENDS[board]).split(","):
                if backend not in BACKENDS[board]:
                    continue
                for mode in args.modes.split(","):
                    try:
                        rows.append(measure(name, board, backend, mode, args.n, args.heap))
                    except Exception as e:      # does not fit the board's RAM in this mode
                        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                        print(f"  {name} {board} {backend} {mode}: not run ({first[:110]})", file=sys.stderr)
                    print(f"  {name} {board} {backend} {mode} done", file=sys.stderr, flush=True)
    for r in rows:
        r["kernels"] = kernels[r["model"], r["mode"]]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"{'model':<26} {'board':<13} {'backend':<7} {'mode':<9} {'instructions':>14} "
              f"{'kernels (M0)':>13} {'ratio':>6} {'peak live':>10} {'min heap':>9} {'instr there':>13} exact")
        for r in rows:
            heap = f"{r['min_heap_kb']}K" if r.get("min_heap_kb") else ""
            there = f"{r['instructions_at_min_heap']:,}" if r.get("instructions_at_min_heap") else ""
            print(f"{r['model']:<26} {r['board']:<13} {r['backend']:<7} {r['mode']:<9} {r['instructions']:>14,} "
                  f"{r['kernels']:>13,} {r['instructions'] / r['kernels']:>6.2f} {r['peak_live_heap']:>10,} "
                  f"{heap:>9} {there:>13} {'yes' if r['exact'] else 'NO'}")
    if args.plot:
        plot(rows, kernels, Path(args.plot))
        print(f"saved {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
