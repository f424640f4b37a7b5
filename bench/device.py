"""Device runtime in the unix MicroPython: latency per backend and the smallest heap.

    .venv/bin/python bench/device.py [--models a,b] [--backends python,viper,native]
        [--modes resident,streaming] [--code ram,rom] [--json]

For each shared model, backend and load mode: the median time per inference
measured inside MicroPython (time.ticks_us around predict_int8, excluding
start-up and loading), the smallest `-X heapsize` (bisection, in KB) at which
the model loads and gives the reference output, and the peak live heap at that
size (gc.mem_alloc() after a collection at every layer end and weight chunk).
Numbers are for the 64-bit unix port: objects are about twice their size on a
32-bit board, so a board needs less heap than shown here. The harness
(host/motes/run/mpy_engine.py) reads each input straight into the arena
(net.input_buffer()), as a board program can. The GC allocates first-fit, so
the smallest heap is not quite monotonic: a few KB above it may fail again
(fragmentation); the bisection reports one boundary.

--code says where the runtime's code is: "ram" imports the .mpy files from the
filesystem, so their bytecode is copied into the heap (stock firmware); "rom"
imports them from a ROMFS partition (firmware built with ROMFS, emulated on
the unix port by host/motes/board/romfs.py), where bytecode and strings stay in
flash and the heap holds what a board's RAM would.
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
from motes.run import mpy_engine  # noqa: E402
from motes.run.executor import Executor  # noqa: E402
from motes.format import from_bytes  # noqa: E402

SHARED = ROOT.parent / "shared" / "models"
MODELS = ["hello_world_int8", "micro_speech_quantized", "mlperf_tiny_kws_ref_model", "person_detect"]
TARGET_HEAP = {"micro_speech_quantized": 48, "mlperf_tiny_kws_ref_model": 64, "person_detect": 128}


def _runs(path, xs, ref, heap_kb, mode, backend, rom):
    try:
        r = mpy_engine.run(path, xs, heap=f"{heap_kb}K", mode=mode, backend=backend, measure=False, rom=rom)
    except Exception:
        return False
    return all((o == e).all() for o, e in zip(r["outputs"], ref))


def min_heap(path, xs, ref, mode, backend, rom, lo=16, hi=2048) -> int | None:
    if not _runs(path, xs, ref, hi, mode, backend, rom):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if _runs(path, xs, ref, mid, mode, backend, rom):
            hi = mid
        else:
            lo = mid + 1
    return lo


def measure(name: str, backend: str, mode: str, n: int, code: str = "ram") -> dict:
    rom = code == "rom"
    conv = api.convert(SHARED / f"{name}.tflite")
    model = from_bytes(conv.data)
    rng = np.random.default_rng(0)
    shape = model.tensors[model.inputs[0]].shape
    xs = [rng.integers(-128, 128, size=shape, dtype=np.int8) for _ in range(n)]
    ex = Executor(model)
    ref = [ex.run([x])[0].ravel() for x in xs]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.mote"
        path.write_bytes(conv.data)
        timed = mpy_engine.run(path, xs, heap="4M", mode=mode, backend=backend, measure=False, rom=rom)
        ok = all((o == e).all() for o, e in zip(timed["outputs"], ref))
        heap = min_heap(path, xs[:1], ref[:1], mode, backend, rom)
        # live bytes do not depend on the heap size: measure them with room to spare
        peak = mpy_engine.run(path, xs[:1], heap="4M", mode=mode, backend=backend, rom=rom)["peak_heap_bytes"]
    return dict(model=name, backend=timed["backend"], mode=mode, code=code, exact=ok,
                ms_per_inference=round(statistics.median(timed["us_per_inference"]) / 1000, 2),
                min_heap_kb=heap, peak_live_heap=peak, target_heap_kb=TARGET_HEAP.get(name))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default="python,viper,native")
    ap.add_argument("--modes", default="resident,streaming")
    ap.add_argument("--code", default="ram,rom", help="where the runtime's code is: ram, rom (ROMFS)")
    ap.add_argument("--n", type=int, default=5, help="inputs per timing run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        for backend in args.backends.split(","):
            for mode in args.modes.split(","):
                for code in args.code.split(","):
                    try:
                        rows.append(measure(name, backend, mode, args.n, code))
                    except Exception as e:  # backend not available on this build
                        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
                        print(f"  {name} {backend} {mode} {code}: not run ({first})", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'model':<28} {'backend':<8} {'mode':<10} {'code':<5} {'ms/inf':>9} {'min heap':>9} "
          f"{'target':>7} {'peak live':>10} exact")
    for r in rows:
        heap = f"{r['min_heap_kb']}K" if r["min_heap_kb"] else "-"
        target = f"{r['target_heap_kb']}K" if r["target_heap_kb"] else ""
        print(f"{r['model']:<28} {r['backend']:<8} {r['mode']:<10} {r['code']:<5} "
              f"{r['ms_per_inference']:>9.2f} {heap:>9} "
              f"{target:>7} {r['peak_live_heap'] or 0:>10,} {'yes' if r['exact'] else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
