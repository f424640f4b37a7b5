"""Where motes finds what goes on a board, from a checkout or from an installed wheel.

The repository keeps the device runtime (device/motes), the C kernel sources
(ulab_kernels) and the examples (examples/) at its top level, beside host/.
The wheel maps them into the package as motes/_data/ (pyproject.toml). This
module is the one place that knows both layouts: the package's own _data/
first, then the checkout this package sits in. Something missing is one clear
error, never a silent partial deploy.

Writable things (compiled .mpy files, the native module's build) go to the
cache folder: the checkout's .cache/, or for an installed wheel
$MOTES_CACHE, else $XDG_CACHE_HOME/motes (~/.cache/motes).
"""
from __future__ import annotations

import os
from pathlib import Path

from .compiler.graph import ModelError

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
# host/motes -> the repository, when this package runs from a checkout
_REPO = HERE.parents[1]
CHECKOUT: Path | None = _REPO if (_REPO / "host" / "motes").is_dir() and (_REPO / "device").is_dir() else None
# the reference models, emulated boards and CircuitPython beside a checkout (tests, benches)
SHARED: Path | None = CHECKOUT.parent / "shared" if CHECKOUT else None


class MissingResource(ModelError):
    """A part of motes that this installation lacks."""


def _find(name: str, what: str) -> Path:
    for base in (DATA, CHECKOUT):
        if base is not None and (base / name).is_dir():
            return base / name
    looked = " and ".join(str(b / name) for b in (DATA, CHECKOUT) if b is not None)
    raise MissingResource(f"{what} is not in this installation of motes (looked in {looked}): "
                          "install motes from a wheel or sdist built from the repository "
                          "(pip install .), or run it from a checkout")


def runtime_dir() -> Path:
    """device/motes: the runtime's .py sources (the `motes` package of the board)."""
    return _find("device/motes", "the device runtime (device/motes)")


def kernels_dir() -> Path:
    """ulab_kernels: the C kernels' sources and their natmod Makefile."""
    return _find("ulab_kernels", "the C kernels' sources (ulab_kernels)")


def examples_dir() -> Path:
    return _find("examples", "the examples folder")


def installed() -> bool:
    """True when the runtime comes from the package's own data (a wheel), not a checkout."""
    return (DATA / "device" / "motes").is_dir()


def cache_dir() -> Path:
    env = os.environ.get("MOTES_CACHE")
    if env:
        return Path(env)
    if CHECKOUT is not None and not installed():
        return CHECKOUT / ".cache"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "motes"
