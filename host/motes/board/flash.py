"""`motes flash`: put MicroPython firmware on a board.

ESP32 family: esptool over the serial port, one run that erases the flash and
writes the image at the address MicroPython's download page gives for the chip
(one connection: a board esptool cannot reach is never left erased). RP2040 / RP2350: the
board's UF2 bootloader shows up as a USB drive (hold BOOTSEL while plugging
in); copying the .uf2 file onto it flashes and reboots the board.
Images are checked before anything is erased or copied.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

from . import attach
from .transport import BoardError

# chip -> flash address of MicroPython's firmware .bin (micropython.org/download)
ESP_ADDRESS = {"esp32": 0x1000, "esp32s2": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0, "esp32c6": 0x0}
# chip -> UF2 family IDs its bootloader accepts
UF2_FAMILIES = {"rp2040": {0xE48BFF56}, "rp2350": {0xE48BFF59, 0xE48BFF5A, 0xE48BFF5B, 0xE48BFF57}}
CHIPS = tuple(ESP_ADDRESS) + tuple(UF2_FAMILIES)

UF2_MAGIC = (0x0A324655, 0x9E5D5157, 0x0AB16F30)
UF2_FAMILY_FLAG = 0x00002000


def check_uf2(data: bytes, chip: str) -> int:
    """Raise BoardError unless data is a whole UF2 image for chip; return its block count."""
    if not data or len(data) % 512:
        raise BoardError(f"not a UF2 file: {len(data)} bytes is not a whole number of 512-byte blocks")
    n = len(data) // 512
    families = set()
    for i in range(n):
        blk = data[512 * i:512 * (i + 1)]
        m0, m1, flags, _addr, size, no, total, family = struct.unpack_from("<8I", blk)
        (m2,) = struct.unpack_from("<I", blk, 508)
        if (m0, m1, m2) != UF2_MAGIC:
            raise BoardError(f"not a UF2 file: block {i} has wrong magic numbers")
        if size > 476 or no != i or total != n:
            raise BoardError(f"broken UF2 file: block {i} says it is {no} of {total} ({size} bytes); "
                             "download it again")
        if flags & UF2_FAMILY_FLAG:
            families.add(family)
    want = UF2_FAMILIES[chip]
    if families and not families & want:
        raise BoardError(f"this UF2 is for family {', '.join(hex(f) for f in sorted(families))}, not {chip} "
                         f"({', '.join(hex(f) for f in sorted(want))}): download the {chip} firmware")
    return n


# the chip id in an ESP image's extended header (bytes 12-13, esp_image_header_t)
ESP_CHIP_ID = {"esp32": 0, "esp32s2": 2, "esp32c3": 5, "esp32s3": 9, "esp32c6": 13}


def check_esp_image(data: bytes, chip: str) -> None:
    if len(data) < 1024 or data[0] != 0xE9:
        raise BoardError(f"not an ESP firmware image (should start with byte 0xE9, be > 1 KB): download "
                         f"the .bin for {chip} from micropython.org/download")
    if chip == "esp32" and data[12:14] == b"\xff\xff":
        return                  # (an old ESP32 image: no chip id)
    cid = data[12] | data[13] << 8
    if cid != ESP_CHIP_ID[chip]:
        names = {v: k for k, v in ESP_CHIP_ID.items()}
        raise BoardError(f"this image is for {names.get(cid, f'chip id {cid}')}, not {chip}: download the "
                         f"{chip} firmware (or give the right --chip)")


def find_uf2_drive() -> Path | None:
    """A mounted UF2 bootloader drive (RPI-RP2, RP2350...), found by its INFO_UF2.TXT."""
    found = attach.uf2_drives()
    return found[0] if found else None


def esptool_commands(chip: str, port: str, image: Path, baud: int) -> list[list[str]]:
    # one run (esptool 5's write-flash --erase-all), not erase-flash then write-flash: two
    # connections left a board erased when the second could not connect
    return [[sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud),
             "write-flash", "--erase-all", "-z", hex(ESP_ADDRESS[chip]), str(image)]]


def _confirm(yes: bool) -> None:
    # never erase or write without a yes: from a terminal, or --yes
    attach.confirm("Go on?", yes, "stopped before changing anything: there is no terminal to ask; "
                   "run it in a terminal, or add --yes")


def flash(chip: str, image: Path, port: str | None = None, drive: str | None = None, baud: int = 460800,
          yes: bool = False, dry_run: bool = False, say=print) -> int:
    if chip not in CHIPS:
        raise BoardError(f"unknown chip {chip!r}; one of: {', '.join(CHIPS)}")
    if not image.is_file():
        raise BoardError(f"{image} not found: download MicroPython for your board from micropython.org/download")
    data = image.read_bytes()
    if chip in UF2_FAMILIES:
        blocks = check_uf2(data, chip)
        target = Path(drive) if drive else find_uf2_drive()
        say(f"Flashing {image.name} ({len(data):,} bytes, {blocks} UF2 blocks) onto a {chip}:")
        say("  1. unplug the board, hold its BOOTSEL button, plug it in, let go: a drive "
            "(RPI-RP2 or RP2350) appears")
        say(f"  2. copy {image.name} onto that drive: {target or '(not found yet: give --drive PATH)'}")
        say("  3. the board reboots into MicroPython by itself; its serial port is then e.g. /dev/ttyACM0")
        if dry_run:
            return 0
        if target is None or not (target / "INFO_UF2.TXT").exists():
            raise BoardError("no UF2 bootloader drive found (a folder with INFO_UF2.TXT): do step 1, "
                             "or give its mount point with --drive")
        _confirm(yes)
        # the bootloader's drive is not a real file system: write the file once, in one go
        with open(image, "rb") as src, open(target / image.name, "wb") as dst:
            shutil.copyfileobj(src, dst, 64 * 1024)
            dst.flush()
            os.fsync(dst.fileno())
        say(f"copied to {target}: the board is rebooting into the new firmware")
        return 0
    check_esp_image(data, chip)
    if not port and not dry_run:
        raise BoardError("give the board's serial port with --port (e.g. /dev/ttyUSB0)")
    cmds = esptool_commands(chip, port or "PORT", image, baud)
    say(f"Flashing {image.name} ({len(data):,} bytes) onto an {chip} on {port or 'PORT'}:")
    say(f"  erase the whole flash (your files on the board are lost) and write the image at "
        f"{hex(ESP_ADDRESS[chip])}, in one esptool run")
    say("  (if esptool cannot connect: hold BOOT, press and release EN/RESET, let go of BOOT)")
    for c in cmds:
        say("  $ " + " ".join(["esptool"] + c[3:]))
    if dry_run:
        return 0
    import importlib.util
    if importlib.util.find_spec("esptool") is None:
        raise BoardError("esptool is not installed: pip install esptool (make setup installs it)")
    _confirm(yes)
    for c in cmds:
        proc = subprocess.run(c)
        if proc.returncode != 0:
            raise BoardError(f"esptool failed (exit {proc.returncode}) on: {' '.join(c[3:])}; see its "
                             "message above. Check the port and the chip, and the BOOT/EN buttons")
    say("done: press RESET (EN); the board now runs MicroPython. Next: motes deploy --port " + port)
    return 0
