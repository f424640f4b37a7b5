"""Device runtime in the unix MicroPython: latency per backend and the smallest heap.

    .venv/bin/python bench/device.py [--models a,b] [--backends python,viper,native]
        [--modes resident,streaming] [--code ram,rom] [--json]
    .venv/bin/python bench/device.py --verify [--models a,b] [--backends ...]

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


# The verifier's share of loading (--verify): motes.load() timed whole, and
# verify.check (the pass over the graph after the reader's counting pass,
# reader.scan) timed inside it, with the bytes that pass allocates (the GC
# disabled around it, so nothing it allocates is freed before it is counted)
_VERIFY = """
import sys, gc, time
sys.path.insert(0, {device!r})
import motes
motes.kernels.use({backend!r})
from motes import verify
def timed(*a):
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    check(*a)
    got.append((time.ticks_diff(time.ticks_us(), t0), gc.mem_alloc() - a0))
    gc.enable()
check = verify.check
got = []
for i in range({n}):
    verify = __import__("motes.verify", None, None, ("check",))
    check = verify.check
    verify.check = timed
    gc.collect()
    t0 = time.ticks_us()
    net = motes.load({mote!r}, mode="streaming", verbose=False)
    t = time.ticks_diff(time.ticks_us(), t0)
    print("@", t, got[-1][0], got[-1][1])
    net = None
"""


def verify_cost(name: str, backend: str, n: int) -> dict:
    """The verify pass at load: its median time and the whole load's (unix port, streaming
    mode, runtime .mpy from the filesystem), the bytes it allocates, its .mpy's size."""
    import subprocess
    from motes.board import device_build
    device = device_build.build("x64")
    conv = api.convert(SHARED / f"{name}.tflite")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.mote"
        path.write_bytes(conv.data)
        script = Path(tmp) / "verify.py"
        script.write_text(_VERIFY.format(device=str(device), backend=backend, mote=str(path), n=n))
        proc = subprocess.run([mpy_engine.micropython_path(), "-X", "heapsize=4M", str(script)],
                              capture_output=True, text=True, timeout=600)
    rows = [[int(v) for v in ln.split()[1:]] for ln in proc.stdout.splitlines() if ln.startswith("@ ")]
    if not rows:
        raise RuntimeError(proc.stdout + proc.stderr)
    load_us, check_us, alloc = (statistics.median(r[k] for r in rows) for k in range(3))
    return dict(model=name, backend=backend, file_bytes=len(conv.data), load_ms=round(load_us / 1000, 2),
                verify_ms=round(check_us / 1000, 2), verify_share=round(check_us / load_us, 3),
                verify_alloc_bytes=int(alloc), verify_mpy_bytes=(device / "motes" / "verify.mpy").stat().st_size)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default="python,viper,native")
    ap.add_argument("--modes", default="resident,streaming")
    ap.add_argument("--code", default="ram,rom", help="where the runtime's code is: ram, rom (ROMFS)")
    ap.add_argument("--n", type=int, default=5, help="inputs per timing run")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--verify", action="store_true",
                    help="only the verifier's cost at load (time, bytes it allocates) per model and backend")
    args = ap.parse_args()
    if args.verify:
        rows = [verify_cost(name, backend, args.n) for name in args.models.split(",")
                for backend in args.backends.split(",")]
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        print(f"{'model':<28} {'backend':<8} {'file':>9} {'load ms':>9} {'verify ms':>10} {'share':>6} "
              f"{'allocated':>10} {'verify.mpy':>10}")
        for r in rows:
            print(f"{r['model']:<28} {r['backend']:<8} {r['file_bytes']:>9,} {r['load_ms']:>9.2f} "
                  f"{r['verify_ms']:>10.2f} {r['verify_share']:>6.1%} {r['verify_alloc_bytes']:>10,} "
                  f"{r['verify_mpy_bytes']:>10,}")
        return 0
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
