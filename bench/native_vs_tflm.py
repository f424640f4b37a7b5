"""Latency per inference: motes in the unix MicroPython (native, viper and python
backends) beside TensorFlow Lite Micro's own interpreter (PyPI tflite-micro,
reference kernels), on this machine, in one run.

    .venv/bin/python bench/native_vs_tflm.py [--n 20] [--json]

TFLM time: the median of invoke() alone. motes time: the median of
predict_int8() measured inside MicroPython (time.ticks_us), resident mode.
Both exclude process start-up and model loading; outputs are checked equal.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "host"))

from motes import api  # noqa: E402
from motes.run import mpy_engine  # noqa: E402
from motes.run.compare import random_inputs  # noqa: E402
from motes.format import from_bytes  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"


def tflm_times(tflite: bytes, xs) -> tuple[list[float], list[np.ndarray]]:
    from tflite_micro import runtime
    it = runtime.Interpreter.from_bytes(tflite)
    times, outs = [], []
    for x in xs:
        it.set_input(np.ascontiguousarray(x), 0)
        t0 = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t0)
        outs.append(it.get_output(0).copy())
    return times, outs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="person_detect,mlperf_tiny_kws_ref_model")
    ap.add_argument("--backends", default="native,viper,python")
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        conv = api.convert(SHARED / f"{name}.tflite")
        model = from_bytes(conv.data)
        xs = random_inputs(model, args.n, seed=5)
        t_tflm, ref = tflm_times(conv.tflite, xs)
        row = dict(model=name, tflm_ms=round(1000 * statistics.median(t_tflm), 3))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.mote"
            path.write_bytes(conv.data)
            for backend in args.backends.split(","):
                n = args.n if backend != "python" else min(args.n, 3)
                r = mpy_engine.run(path, xs[:n], heap="4M", mode="resident", backend=backend, measure=False)
                exact = all((o == e.ravel()).all() for o, e in zip(r["outputs"], ref))
                ms = statistics.median(r["us_per_inference"]) / 1000
                row[backend] = dict(ms=round(ms, 3), speedup_vs_tflm=round(row["tflm_ms"] / ms, 2), exact=exact)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    backends = args.backends.split(",")
    print(f"{'model':<28} {'TFLM ms':>9} " + " ".join(f"{b + ' ms':>11} {'x TFLM':>7}" for b in backends))
    for r in rows:
        cells = " ".join(f"{r[b]['ms']:>11.3f} {r[b]['speedup_vs_tflm']:>7.2f}" for b in backends)
        ok = all(r[b]["exact"] for b in backends)
        print(f"{r['model']:<28} {r['tflm_ms']:>9.3f} {cells}  {'exact' if ok else 'MISMATCH'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
