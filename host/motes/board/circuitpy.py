"""What a CircuitPython board gets from `motes deploy`.

CircuitPython runs the pure-Python kernels: most boards have no native emitter
(a viper function is a SyntaxError there, a native .mpy a ValueError) and no
natmod loader, so the viper and C-glue modules are left out. Its .mpy files
start with 'C' and only CircuitPython's own mpy-cross makes them (it refuses
MicroPython's): with one at hand ($MOTES_CP_MPY_CROSS, or ../shared/circuitpython
beside a checkout) and made for the board's CircuitPython version, the runtime
goes as .mpy, else as .py source. The example's main.py becomes code.py, which
CircuitPython runs at boot (it runs main.py only when there is no code.py). The
CircuitPython libraries an example needs (its package.json's "circuitpython"
list) are installed with circup when the user has it, else named.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import device_build
from .. import resources
from .transport import BoardError

ENV_CROSS = "MOTES_CP_MPY_CROSS"
_NO_CP = re.compile(r"^\s*@micropython\.(viper|native|asm_\w+)|^import motes_native", re.M)
DOWNLOAD = "https://adafruit-circuit-python.s3.amazonaws.com/index.html?prefix=bin/mpy-cross/"


def sources() -> list[Path]:
    """The runtime modules CircuitPython can use: not the viper kernels, not the
    glue of the C module (motes_native)."""
    return [p for p in device_build.sources() if not _NO_CP.search(p.read_text())]


def _cross() -> Path | None:
    env = os.environ.get(ENV_CROSS)
    for p in ([Path(env)] if env else []) + ([resources.SHARED / "circuitpython" / "mpy-cross"]
                                             if resources.SHARED else []):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None


def cross_version(cross: Path) -> tuple[int, str]:
    """(CircuitPython major version, full version) of a CircuitPython mpy-cross."""
    out = subprocess.run([str(cross), "--version"], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"CircuitPython (\d+)\.(\S+)", out)
    if not m:
        raise BoardError(f"{cross} is not CircuitPython's mpy-cross (it says {out.strip()[:80]!r})")
    return int(m.group(1)), f"{m.group(1)}.{m.group(2)}"


def build(cross: Path) -> Path:
    """A folder with motes/*.mpy made by CircuitPython's mpy-cross (cached)."""
    h = hashlib.sha256(cross.read_bytes() + device_build.SOURCE_NAMES.encode())
    for src in sources():
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    out = resources.cache_dir() / "device-mpy" / f"circuitpython-{h.hexdigest()[:12]}"
    if not (out / ".done").exists():
        device_build.compile_runtime(str(cross), [], sources(), out / "motes")
        (out / ".done").write_text("ok\n")
    return out


def runtime(info: dict) -> tuple[list[tuple[str, Path]], list[str]]:
    """(name in lib/motes, local file) of the runtime for a CircuitPython board, and notes."""
    board_major = re.match(r"(\d+)\.", str(info.get("version") or ""))
    cross = _cross()
    leftout = ", ".join(sorted(p.name for p in set(device_build.sources()) - set(sources())))
    why = None
    if cross is None:
        why = (f"no CircuitPython mpy-cross here: set ${ENV_CROSS} to one for the board's version "
               f"({DOWNLOAD})")
    else:
        major, full = cross_version(cross)
        if board_major is None:
            why = "the board's CircuitPython version is unknown"
        elif int(board_major.group(1)) != major:
            why = f"the board runs CircuitPython {info['version']}, the mpy-cross here is for {full}"
    if why is None:
        folder = build(cross) / "motes"
        files = [(p.name, p) for p in sorted(folder.glob("*.mpy"))]
        note = f"runtime as .mpy from CircuitPython {full}'s mpy-cross"
    else:
        files = [(p.name, p) for p in sources()]
        note = f"runtime as .py source ({why})"
    return files, [f"{note}; without {leftout} (no viper or native code on CircuitPython: "
                   "the Python kernels)"]


def libraries(example: str) -> list[str]:
    """The CircuitPython libraries (circup names) the example's device code imports."""
    pkg = resources.examples_dir() / example / "package.json"
    try:
        return list(json.loads(pkg.read_text()).get("circuitpython", []))
    except (OSError, ValueError):
        return []


def install_libraries(libs: list[str], drive: Path | None, say) -> None:
    """circup install them onto the drive when circup is here; else say exactly what to get."""
    if not libs:
        return
    circup = shutil.which("circup")
    if circup and drive is not None:
        say(f"CircuitPython libraries: circup --path {drive} install {' '.join(libs)}")
        proc = subprocess.run([circup, "--path", str(drive), "install"] + libs, capture_output=True,
                              text=True, timeout=300)
        if proc.returncode == 0:
            return
        last = ((proc.stderr or proc.stdout).strip().splitlines() or ["no message"])[-1]
        say(f"  circup failed: {last}")
    say(f"this example needs the CircuitPython libraries {', '.join(libs)}: pip install circup, then "
        f"circup install {' '.join(libs)} (or copy them from the Adafruit CircuitPython bundle "
        "into the board's lib/)")
