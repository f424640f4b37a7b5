"""Finding the attached board, and asking before changing what the user has.

Serial boards are found as `mpremote connect auto` finds them: pyserial's
port list, sorted, keeping the USB ports (those with a vendor and product id).
Drives (CircuitPython's CIRCUITPY, the UF2 bootloader's RPI-RP2) are found
among the mounted file systems: /proc/mounts on Linux, and the folders where
desktops mount removable media (/media/$USER, /run/media/$USER, /Volumes).
"""
from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from .transport import BoardError

MOUNTS = "/proc/mounts"


def _media() -> list[str]:
    user = os.environ.get("USER", "*")
    return [f"/media/{user}/*", "/media/*", f"/run/media/{user}/*", "/Volumes/*"]


def serial_ports() -> list[tuple[str, str]]:
    """(device, description) of each USB serial port, in mpremote's order."""
    try:
        from serial.tools import list_ports
    except ImportError:
        raise BoardError("pyserial is not installed (mpremote brings it): pip install mpremote") from None
    return [(p.device, " ".join(str(x) for x in (p.manufacturer, p.product) if x) or p.description or "")
            for p in sorted(list_ports.comports()) if p.vid is not None and p.pid is not None]


def mount_points() -> list[Path]:
    """Every mounted folder: the mount table's entries, then the media folders'."""
    found: list[str] = []
    try:
        with open(MOUNTS) as f:
            for line in f:
                parts = line.split()
                if len(parts) > 1:        # the table escapes blanks as \040
                    found.append(parts[1].encode().decode("unicode_escape"))
    except OSError:
        pass
    for pattern in _media():
        found += sorted(glob.glob(pattern))
    out: list[Path] = []
    for d in found:
        if d not in map(str, out) and os.path.isdir(d):
            out.append(Path(d))
    return out


def _circuitpython(d: Path) -> bool:
    if d.name.startswith("CIRCUITPY"):
        return True
    try:
        return "CircuitPython" in (d / "boot_out.txt").read_text(errors="replace")[:200]
    except OSError:
        return False


def circuitpy_drives() -> list[Path]:
    """Mounted CircuitPython drives (named CIRCUITPY, or holding its boot_out.txt)."""
    return [d for d in mount_points() if _circuitpython(d)]


def uf2_drives() -> list[Path]:
    """Mounted UF2 bootloader drives (RPI-RP2, RP2350...), found by their INFO_UF2.TXT."""
    return [d for d in mount_points() if (d / "INFO_UF2.TXT").is_file()]


def _one(found: list, names: list[str], what: str, flag: str):
    if len(found) == 1:
        return found[0]
    if not found:
        raise BoardError(f"no {what} found: plug the board in (and wait for it), or give {flag}")
    raise BoardError(f"{len(found)} {what}s found ({', '.join(names)}): choose one with {flag}")


def _drive(drives: list[Path]) -> Path:
    return _one(drives, list(map(str, drives)), "CIRCUITPY drive", "--drive PATH")


def choose(port: str | None, drive: str | None) -> tuple[str | None, str | None, str]:
    """(port, drive, note): `auto` or nothing given means the one attached board. A mounted
    CIRCUITPY drive comes before serial ports: a CircuitPython board shows both, and its
    files are written through the drive."""
    if drive == "auto":
        d = _drive(circuitpy_drives())
        return None, str(d), f"found the CIRCUITPY drive {d}"
    if drive:
        return None, drive, ""
    if port and port != "auto":
        return port, None, ""
    if port is None:
        drives = circuitpy_drives()
        if drives:
            d = _drive(drives)
            return None, str(d), f"found the CIRCUITPY drive {d} (--port or --drive to choose)"
    ports = serial_ports()
    dev, desc = _one(ports, [f"{d} ({x})" if x else d for d, x in ports], "USB serial port", "--port PORT")
    return dev, None, f"found the board on {dev}" + (f" ({desc})" if desc else "")


def confirm(question: str, yes: bool, refusal: str) -> None:
    """Go on only with a yes: --yes, or from a terminal. With no terminal to ask, stop
    with `refusal` (which says what to do)."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise BoardError(refusal)
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise BoardError("stopped: nothing was changed")
